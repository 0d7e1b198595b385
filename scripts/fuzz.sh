#!/usr/bin/env bash
# libFuzzer runs of the parsers that read files from others (tests/fuzz/<target>/harness.cpp).
#   scripts/fuzz.sh TARGET SECONDS [libFuzzer flags...]
# TARGET: safetensors, checkpoint, fits, catalog_csv, embedding, archive, or "all" (SECONDS
# each). Builds tests/fuzz with clang-14 (-fsanitize=fuzzer,address,undefined) into build-fuzz/
# (SKYSSL_FUZZ_BUILD), then runs the target on its seed corpus (tests/fuzz/<target>/corpus, only
# read) plus the inputs it found before (build-fuzz/corpus/<target>, where new ones go), with a
# 2 GB memory limit and a 30 s per-input timeout (generous: the machine may be shared). A
# finding (crash, sanitizer report, leak, out-of-memory, timeout) is saved under
# build-fuzz/findings/<target>/ and the script exits 1: turn it into a regression test (corpus
# file + unit test). Prints runs and corpus size per target.
#   SKYSSL_JOBS       compile jobs (default 2)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${SKYSSL_FUZZ_BUILD:-$root/build-fuzz}
jobs=${SKYSSL_JOBS:-2}
all=(safetensors checkpoint fits catalog_csv embedding archive)

if (($# < 2)); then
  echo "usage: scripts/fuzz.sh TARGET SECONDS [libFuzzer flags...]; TARGET: ${all[*]} or all" >&2
  exit 2
fi
target=$1
seconds=$2
shift 2
if [[ $target == all ]]; then
  targets=("${all[@]}")
else
  [[ " ${all[*]} " == *" $target "* ]] || {
    echo "fuzz.sh: unknown target '$target' (${all[*]} or all)" >&2
    exit 2
  }
  targets=("$target")
fi
[[ $seconds =~ ^[0-9]+$ && $seconds -ge 1 ]] || {
  echo "fuzz.sh: SECONDS must be a positive integer, got '$seconds'" >&2
  exit 2
}
cxx=$(command -v clang++-14 || command -v clang++ || true)
cc=$(command -v clang-14 || command -v clang || true)
if [[ -z $cxx || -z $cc ]]; then
  echo "fuzz.sh: clang is missing (apt-get install clang-14 libclang-rt-14-dev)" >&2
  exit 2
fi

if [[ ! -f $build/build.ninja ]]; then
  launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
  cmake -S "$root/tests/fuzz" -B "$build" -G Ninja -DCMAKE_CXX_COMPILER="$cxx" \
    -DCMAKE_C_COMPILER="$cc" "${launcher[@]}" >"$build.configure.log" 2>&1 || {
    cat "$build.configure.log" >&2
    exit 1
  }
fi
export CCACHE_BASEDIR=$root CCACHE_NOHASHDIR=1
cmake --build "$build" -j "$jobs" --target "${targets[@]/#/fuzz_}"

# HDF5's file locks are unneeded for private scratch files; leaks are findings; UBSan stops.
export HDF5_USE_FILE_LOCKING=FALSE OMP_NUM_THREADS=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
for t in "${targets[@]}"; do
  work=$build/corpus/$t findings=$build/findings/$t scratch=$build/scratch/$t
  mkdir -p "$work" "$findings" "$scratch"
  log=$build/$t.log
  rc=0
  TMPDIR=$scratch "$build/fuzz_$t" -max_total_time="$seconds" -rss_limit_mb=2048 \
    -malloc_limit_mb=2048 -timeout=30 -print_final_stats=1 -artifact_prefix="$findings/" \
    "$@" "$work" "$root/tests/fuzz/$t/corpus" >"$log" 2>&1 || rc=$?
  rm -rf "$scratch"
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  corpus=$(find "$work" -type f | wc -l)
  if ((rc != 0)); then
    status=1
    echo "fuzz $t: FINDING after ${runs:-?} runs (exit $rc); input saved in $findings/, log $log"
    grep -m 5 -E "ERROR|SUMMARY|runtime error|finding:" "$log" || tail -20 "$log"
  else
    echo "fuzz $t: ${runs:-?} runs in ${seconds} s, corpus $corpus new + seeds, no finding"
  fi
done
exit $status
