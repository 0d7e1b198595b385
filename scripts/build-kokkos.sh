#!/usr/bin/env bash
# Builds and installs Kokkos with the CUDA backend (plus a host backend) from a Kokkos source
# tree you already have (a git checkout or a release tarball, 3.7 or newer): this repository
# neither vendors nor downloads Kokkos. The install is what skyssl's GPU build finds with
# find_package(Kokkos) (docs/gpu.md).
#
#   KOKKOS_SRC=/path/to/kokkos bash scripts/build-kokkos.sh PREFIX [ARCH] [HOST_BACKEND]
#     PREFIX        install directory (then: -DKokkos_ROOT=PREFIX)
#     ARCH          Kokkos GPU arch: AMPERE80 (A100, Perlmutter; default), HOPPER90 (H100/H200)
#     HOST_BACKEND  SERIAL (default) or OPENMP
#   KOKKOS_CMAKE_ARGS  extra CMake arguments, e.g. "-DCMAKE_CXX_FLAGS=-D_GLIBCXX_USE_CXX11_ABI=0"
#                      to match a LibTorch built with the old C++ ABI (scripts/gpu-check-all.sh
#                      passes the ABI of the torch it builds against)
set -euo pipefail
: "${KOKKOS_SRC:?set KOKKOS_SRC to a Kokkos source directory (git clone or release tarball)}"
prefix=${1:?usage: KOKKOS_SRC=... bash scripts/build-kokkos.sh PREFIX [ARCH] [HOST_BACKEND]}
arch=${2:-AMPERE80}
host=${3:-SERIAL}
[[ -f $KOKKOS_SRC/CMakeLists.txt && -d $KOKKOS_SRC/core ]] ||
  { echo "build-kokkos: $KOKKOS_SRC does not look like a Kokkos source tree" >&2; exit 2; }
case $arch in AMPERE80 | AMPERE86 | HOPPER90 | VOLTA70) ;; *)
  echo "build-kokkos: unknown ARCH '$arch' (AMPERE80, AMPERE86, HOPPER90, VOLTA70)" >&2; exit 2 ;;
esac
case $host in SERIAL | OPENMP) ;; *)
  echo "build-kokkos: HOST_BACKEND must be SERIAL or OPENMP, got '$host'" >&2; exit 2 ;;
esac
command -v nvcc >/dev/null || { echo "build-kokkos: nvcc not on PATH (module load cudatoolkit?)" >&2; exit 2; }
build=${BUILD:-$(mktemp -d /tmp/kokkos-build.XXXXXX)}
echo "build-kokkos: $KOKKOS_SRC -> $prefix (CUDA $arch + $host), building in $build"
cmake -S "$KOKKOS_SRC" -B "$build" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_INSTALL_PREFIX="$prefix" \
  -DCMAKE_CXX_COMPILER="$KOKKOS_SRC/bin/nvcc_wrapper" -DCMAKE_CXX_STANDARD=17 \
  -DKokkos_ENABLE_CUDA=ON -DKokkos_ENABLE_CUDA_LAMBDA=ON -DKokkos_ENABLE_"$host"=ON \
  -DKokkos_ARCH_"$arch"=ON -DKokkos_ENABLE_TESTS=OFF -DKokkos_ENABLE_EXAMPLES=OFF \
  -DBUILD_SHARED_LIBS=ON ${KOKKOS_CMAKE_ARGS:-}
cmake --build "$build" -j "${JOBS:-$(nproc)}"
cmake --install "$build"
echo "build-kokkos: done; configure skyssl with -DKokkos_ROOT=$prefix (see CMakePresets.json)"
