#!/usr/bin/env bash
# Every benchmark, short, and one summary table (figure, ours, reference, ratio, target):
# benchmarks/run_all.py. Builds first if needed. Logs and summary.{md,json} in build/bench/.
#   bash scripts/bench.sh                    # everything (< 15 min on 2 cores)
#   bash scripts/bench.sh --only train,modes # a subset
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${SKYSSL_BUILD_DIR:-$root/build}
source "$root/scripts/mpi-env.sh"
cmake --build "$build" -j"${SKYSSL_JOBS:-$(nproc)}" --target bench_train_step bench_step_modes \
  bench_comm bench_reader bench_augment bench_checkpoint skyssl-train skyssl-prep
exec /usr/bin/python3 "$root/benchmarks/run_all.py" --build "$build" "$@"
