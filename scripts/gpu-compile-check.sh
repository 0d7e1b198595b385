#!/usr/bin/env bash
# Compiles the CUDA translation units of a GPU build without a GPU (docs/gpu.md, "What compiles
# here with nvcc"): nvcc, NCCL and a CUDA Kokkos install (scripts/build-kokkos.sh), with
# Debian's CPU LibTorch for the headers (c10/cuda included; there is no libc10_cuda to link).
#  1. skyssl-gpu-bench's project exactly as the GPU check builds it (gpu-check-all.sh
#     --compile-only): kernels, the bench and the NCCL communicator, linked;
#  2. the top-level project configured against the same Kokkos (build-cuda), and in it the
#     objects a GPU build adds or changes beyond 1: the kernels' tests and bench_augment
#     (nvcc), the copy stage, the staging pool, the device plan and device choice, and the NCCL
#     communicator (compiled, not linked: linking needs a CUDA LibTorch).
#
#   bash scripts/gpu-compile-check.sh
# Environment: Kokkos_ROOT (default .deps/kokkos-cuda-hopper90), SKYSSL_CUDA_BUILD_DIR (default
# build-cuda), JOBS (default nproc).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export Kokkos_ROOT=${Kokkos_ROOT:-$root/.deps/kokkos-cuda-hopper90}
build=${SKYSSL_CUDA_BUILD_DIR:-$root/build-cuda}
jobs=${JOBS:-$(nproc)}
export PATH=$PATH:${CUDA_HOME:-/usr/local/cuda}/bin
die() { echo "gpu-compile-check: $*" >&2; exit 2; }
[[ -x $Kokkos_ROOT/bin/nvcc_wrapper ]] ||
  die "no CUDA Kokkos at $Kokkos_ROOT: KOKKOS_SRC=/path/to/kokkos bash scripts/build-kokkos.sh $Kokkos_ROOT HOPPER90 OPENMP"

JOBS=$jobs bash "$root/scripts/gpu-check-all.sh" --compile-only

export CCACHE_BASEDIR=$root CCACHE_NOHASHDIR=1
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DKokkos_ROOT="$Kokkos_ROOT" \
  >"$build.configure.log" 2>&1 ||
  { cat "$build.configure.log" >&2; die "configure failed (log: $build.configure.log)"; }
grep -q "backends: .*CUDA" "$build.configure.log" || die "the configure did not pick up CUDA from $Kokkos_ROOT"
grep -q "NCCL *ON" "$build.configure.log" || die "NCCL not found (CUDA_HOME, NCCL_HOME)"
objects=(
  lib/skyssl/train/CMakeFiles/skyssl_train.dir/device_copy.cpp.o
  lib/skyssl/train/CMakeFiles/skyssl_train.dir/staging_pool.cpp.o
  lib/skyssl/train/CMakeFiles/skyssl_train.dir/device_plan.cpp.o
  lib/skyssl/dist/CMakeFiles/skyssl_dist.dir/device.cpp.o
  lib/skyssl/dist/CMakeFiles/skyssl_dist.dir/nccl_communicator.cpp.o
  benchmarks/augment/CMakeFiles/bench_augment.dir/bench_augment.cpp.o
  tests/unit/kernels/CMakeFiles/test_kernels.dir/test_augment_config.cpp.o
  tests/unit/kernels/CMakeFiles/test_kernels.dir/test_reference.cpp.o
  tests/unit/kernels/CMakeFiles/test_kernels.dir/test_view_pool.cpp.o
  tests/unit/kernels/CMakeFiles/test_kernels.dir/test_augment_threads.cpp.o
  tests/unit/kernels/CMakeFiles/test_kernels.dir/test_augment.cpp.o
)
SECONDS=0
cmake --build "$build" -j "$jobs" --target "${objects[@]}" >"$build.build.log" 2>&1 ||
  { tail -40 "$build.build.log" >&2; die "compile failed (log: $build.build.log)"; }
echo "gpu-compile-check: ${#objects[@]} objects of the top-level GPU build compiled in ${SECONDS} s ($build)"
