#!/usr/bin/env bash
# Weak scaling of skyssl-train: the same per-rank batch at 1 and 2 ranks (RANKS to change),
# a fixed number of steps, the `example` preset on a synthetic survey. Prints images/s per
# rank count and the efficiency ips(R) / (R * ips(1)). On a 2-core machine 2 ranks share the
# cores, so expect well below 100%: run it on a node with a core (or GPU) per rank.
#   benchmarks/comm/weak_scaling.sh                 # LOCAL_BATCH=32 STEPS=24 RANKS="1 2"
#   LOCAL_BATCH=64 STEPS=40 RANKS="1 2 4" benchmarks/comm/weak_scaling.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
source "$root/scripts/mpi-env.sh"
build=${SKYSSL_BUILD_DIR:-$root/build}
train=$build/apps/train/skyssl-train
prep=$build/apps/prep/skyssl-prep
local_batch=${LOCAL_BATCH:-32}
steps=${STEPS:-24}
ranks=${RANKS:-"1 2"}
threads=${THREADS:-1}
work=${WORK:-$build/weak-scaling}
for exe in "$train" "$prep"; do
  [[ -x $exe ]] || { echo "weak_scaling.sh: $exe not built (cmake --build $build)" >&2; exit 1; }
done
mkdir -p "$work"
if [[ ! -f $work/survey.h5 ]]; then
  mpiexec -n 2 "$prep" synth --out "$work/survey.h5" --count 2048 --size 64 --seed 1 >/dev/null
fi

declare -A ips
for r in $ranks; do
  run=$work/ranks$r
  rm -rf "$run"
  # bn_group = the per-rank batch at every R, so the runs compute the same step shape;
  # the queue must hold whole global batches.
  mpiexec -n "$r" "$train" --preset example --run-dir "$run" \
    --set data.path=\""$work/survey.h5"\" \
    --set train.global_batch=$((r * local_batch)) --set moco.bn_group="$local_batch" \
    --set moco.K=$((r * local_batch * 16)) --set train.max_steps="$steps" \
    --set train.log_every=$((steps / 3)) --set train.threads="$threads" \
    --set train_eval.enabled=false >"$run.log" 2>&1 || { cat "$run.log" >&2; exit 1; }
  # images/s over the records after the first (which includes start-up and warm-up).
  ips[$r]=$(/usr/bin/python3 - "$run/metrics.jsonl" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
use = recs[1:] or recs
print(f"{sum(r['images_per_s'] for r in use) / len(use):.2f}")
PY
)
done

first=${ranks%% *}
printf "%-6s %-12s %-12s %-10s\n" ranks local_batch images/s efficiency
for r in $ranks; do
  eff=$(/usr/bin/python3 -c "print(f'{100*${ips[$r]}/(${r}/${first}*${ips[$first]}):.1f}%')")
  printf "%-6s %-12s %-12s %-10s\n" "$r" "$local_batch" "${ips[$r]}" "$eff"
done
