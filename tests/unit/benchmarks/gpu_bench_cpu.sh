#!/bin/sh
# bench_gpu --cpu with tiny sizes: the table has every row, every agreement row passed
# and the run says so; without --cpu on a CPU-only LibTorch it stops with one line naming --cpu.
bench=$1
out=$("$bench" --cpu --batch 4 --iters 1 --warmup 1 --crop 48 --input 72 --aug-batch 8 --queue 16 2>&1)
rc=$?
echo "$out"
fail() { echo "gpu_bench_cpu: $*" >&2; exit 1; }
[ $rc -eq 0 ] || fail "exit status $rc"
for r in "augment agreement decals (host)" "augment agreement sdss (host)" "augment throughput" "augment bandwidth" \
         "moco step resnet18/w16 fp32" "moco step resnet18/w16 bf16" "local round trip, world 1" \
         "nccl backend"; do
  echo "$out" | grep -q "^| $r " || fail "no table row '$r'"
done
[ "$(echo "$out" | grep "^| augment agreement" | grep -c "| PASS")" -eq 2 ] ||
  fail "an augment agreement row did not pass"
echo "$out" | grep "round trip" | grep -q "| PASS" || fail "round trip did not pass"
echo "$out" | grep -q "^| moco step .* img/s, .* TFLOP/s (.* GFLOP/img), aug .*%, copy .*%" ||
  fail "moco step rows lack img/s, TFLOP/s or the aug / copy shares"
[ "$(echo "$out" | tail -1)" = "GPU-BENCH PASSED" ] || fail "last line is not GPU-BENCH PASSED"
# GPU mode here (CPU-only LibTorch): a clear refusal, exit 2.
msg=$("$bench" 2>&1)
rc=$?
[ $rc -eq 2 ] || fail "GPU mode without a device exited $rc, expected 2"
echo "$msg" | grep -q "no CUDA device.*--cpu" || fail "GPU mode refusal does not name --cpu: $msg"
msg=$("$bench" --cpu --precisions fp16 2>&1)
rc=$?
[ $rc -eq 2 ] || fail "--cpu fp16 exited $rc, expected 2: $msg"
echo "$msg" | grep -q "fp16 needs CUDA" || fail "--cpu fp16 refusal does not say fp16 needs CUDA: $msg"
echo "gpu_bench_cpu: OK"
