#!/usr/bin/env bash
# The benchmarks of benchmarks/run_all.py, short, and one summary table (figure, ours, reference,
# ratio, target): bench_train_step, bench_step_modes, bench_comm, scaling.py, bench_reader,
# bench_augment, bench_checkpoint. Not bench_search (10M rows: minutes of index building) or
# bench_gpu (a GPU: scripts/gpu-check-all.sh). Builds first if needed. Logs and
# summary.{md,json} in build/bench/; a full run without failures rewrites
# docs/benchmark-results.md.
#   bash scripts/bench.sh                    # all of the above (< 15 min on 2 cores)
#   bash scripts/bench.sh --only train,modes # a subset (docs/benchmark-results.md left as it is)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${SKYSSL_BUILD_DIR:-$root/build}
source "$root/scripts/mpi-env.sh"
cmake --build "$build" -j"${SKYSSL_JOBS:-$(nproc)}" --target bench_train_step bench_step_modes \
  bench_comm bench_reader bench_augment bench_checkpoint skyssl-train skyssl-prep
exec /usr/bin/python3 "$root/benchmarks/run_all.py" --build "$build" \
  --results "$root/docs/benchmark-results.md" "$@"
