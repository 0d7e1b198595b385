#!/usr/bin/env bash
# Builds and runs the standalone augmentation check (kernels/check/gpu_check.cpp): the Kokkos
# kernels against the plain reference (and CUDA against the host backend), then images/s.
# Needs no network, MPI, HDF5 or torch.
#
#   GPU machine:  Kokkos_ROOT=/path/to/kokkos-install bash scripts/gpu-check.sh [batch] [iters]
#                 builds the check with find_package(Kokkos) against an installed Kokkos with
#                 the CUDA and Serial backends (a module on Perlmutter; elsewhere built by hand
#                 beside the project: this repository does not build Kokkos), using the
#                 nvcc_wrapper that installation provides.
#   Here (CPU):   bash scripts/gpu-check.sh --cpu [batch] [iters]
#                 builds the same program with g++ against the installed Serial Kokkos.
# BUILD (default build-gpu-check) holds everything it builds.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD:-$here/build-gpu-check}
mode=gpu
if [[ ${1:-} == --cpu ]]; then
  mode=cpu
  shift
fi
batch=${1:-64}
iters=${2:-5}
mkdir -p "$build"
sources=("$here/kernels/check/gpu_check.cpp" "$here/kernels/augment_presets.cpp"
         "$here/kernels/reference.cpp")
includes=(-I"$here" -I"$here/lib")

if [[ $mode == cpu ]]; then
  kk_inc=${KOKKOS_INCLUDE:-/usr/include/trilinos}
  kk_lib=${KOKKOS_LIB:-trilinos_kokkoscore}
  [[ -f $kk_inc/Kokkos_Core.hpp ]] || { echo "gpu-check: no Kokkos_Core.hpp in $kk_inc (set KOKKOS_INCLUDE)" >&2; exit 2; }
  echo "gpu-check: building the CPU check with ${CXX:-g++} against $kk_inc"
  "${CXX:-g++}" -std=c++17 -O3 -Wall -Wextra "${includes[@]}" -isystem "$kk_inc" "${sources[@]}" \
    -l"$kk_lib" -ldl -o "$build/gpu_check_cpu"
  exec "$build/gpu_check_cpu" "$batch" "$iters"
fi

: "${Kokkos_ROOT:?set Kokkos_ROOT to an installed Kokkos with the CUDA backend}"
command -v nvcc >/dev/null || { echo "gpu-check: nvcc not found" >&2; exit 2; }
[[ -x $Kokkos_ROOT/bin/nvcc_wrapper ]] ||
  { echo "gpu-check: no bin/nvcc_wrapper under Kokkos_ROOT=$Kokkos_ROOT (a CUDA Kokkos?)" >&2; exit 2; }
jobs=${JOBS:-$(nproc)}
# A two-line CMake project lets Kokkos pass its own nvcc flags (arch, lambdas, relocatable code).
check_src=$build/check-project
mkdir -p "$check_src"
cat >"$check_src/CMakeLists.txt" <<CMAKE
cmake_minimum_required(VERSION 3.16)
project(skyssl_gpu_check CXX)
find_package(Kokkos REQUIRED)
add_executable(gpu_check ${sources[*]})
target_include_directories(gpu_check PRIVATE $here $here/lib)
target_link_libraries(gpu_check PRIVATE Kokkos::kokkos)
CMAKE
echo "gpu-check: building the check with nvcc"
cmake -S "$check_src" -B "$build/check-build" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_COMPILER="$Kokkos_ROOT/bin/nvcc_wrapper" -DKokkos_ROOT="$Kokkos_ROOT" >/dev/null
cmake --build "$build/check-build" -j "$jobs" >/dev/null
SKYSSL_GPU_CHECK_EXPECT_DEVICE=1 exec "$build/check-build/gpu_check" "$batch" "$iters"
