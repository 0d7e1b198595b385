#!/usr/bin/env bash
# Builds and installs Kokkos from a Kokkos source tree you already have (a git checkout or a
# release tarball, 4.x; 3.7+ without CUDA 13): this repository neither vendors nor downloads
# Kokkos. The install is what skyssl finds with find_package(Kokkos) (docs/gpu.md): a CUDA one
# for a GPU build and for the device check (scripts/gpu-check-all.sh), a host one for the
# OpenMP tests (scripts/test-openmp.sh).
#
#   KOKKOS_SRC=/path/to/kokkos bash scripts/build-kokkos.sh PREFIX [ARCH] [HOST_BACKEND]
#     PREFIX        install directory (then: -DKokkos_ROOT=PREFIX)
#     ARCH          Kokkos GPU arch: AMPERE80 (A100, Perlmutter; default), HOPPER90 (H100/H200),
#                   AMPERE86, VOLTA70 (CUDA 12 and older), or NONE: no CUDA, host backends only,
#                   built with the host compiler
#     HOST_BACKEND  SERIAL (default) or OPENMP; Serial is always built too (augment.threads runs
#                   its per-thread teams on Kokkos::Serial, kernels/serial_team.hpp)
#   KOKKOS_CMAKE_ARGS  extra CMake arguments, e.g. "-DCMAKE_CXX_FLAGS=-D_GLIBCXX_USE_CXX11_ABI=0"
#                      to match a LibTorch built with the old C++ ABI (the ABI is recorded in
#                      PREFIX/skyssl-kokkos.txt and checked by scripts/gpu-check-all.sh)
#   BUILD (default: a new /tmp/kokkos-build.*), JOBS (default: nproc)
#
# The install is Release, shared, without tests or examples (a few MB, small enough to carry to
# a GPU machine). Its bin/nvcc_wrapper compiles for ARCH by default: CUDA 13 dropped sm_70,
# nvcc_wrapper's own default, so even CMake's first compiler check needs the arch.
set -euo pipefail
: "${KOKKOS_SRC:?set KOKKOS_SRC to a Kokkos source directory (git clone or release tarball)}"
prefix=${1:?usage: KOKKOS_SRC=... bash scripts/build-kokkos.sh PREFIX [ARCH] [HOST_BACKEND]}
arch=${2:-AMPERE80}
host=${3:-SERIAL}
die() { echo "build-kokkos: $*" >&2; exit 2; }
[[ -f $KOKKOS_SRC/CMakeLists.txt && -d $KOKKOS_SRC/core ]] ||
  die "$KOKKOS_SRC does not look like a Kokkos source tree"
case $arch in
  AMPERE80) sm=80 ;; AMPERE86) sm=86 ;; HOPPER90) sm=90 ;; VOLTA70) sm=70 ;; NONE) sm= ;;
  *) die "unknown ARCH '$arch' (AMPERE80, AMPERE86, HOPPER90, VOLTA70, NONE)" ;;
esac
case $host in SERIAL | OPENMP) ;; *) die "HOST_BACKEND must be SERIAL or OPENMP, got '$host'" ;; esac
version=$(sed -n 's/^ *set(Kokkos_VERSION_\(MAJOR\|MINOR\) \([0-9]*\)).*/\2/p' "$KOKKOS_SRC/CMakeLists.txt" |
  paste -sd.)
backends=(-DKokkos_ENABLE_SERIAL=ON)
[[ $host == OPENMP ]] && backends+=(-DKokkos_ENABLE_OPENMP=ON)
if [[ -n $sm ]]; then
  command -v nvcc >/dev/null || die "nvcc not on PATH (module load cudatoolkit? /usr/local/cuda/bin)"
  cuda=$(nvcc --version | sed -n 's/.*release \([0-9]*\)\.\([0-9]*\).*/\1/p')
  [[ $cuda -ge 13 && $sm == 70 ]] && die "CUDA $cuda has no sm_70 (VOLTA70): use CUDA 12 or another ARCH"
  # Kokkos 4.6 and older call cudaMemAdvise/cudaMemPrefetchAsync/cudaGraphAddDependencies with
  # their CUDA 12 signatures, which CUDA 13 removed (docs/gpu.md: use Kokkos 4.7.01+, or the
  # three-call patch described there).
  if [[ $cuda -ge 13 ]] && (( ${version%.*} * 100 + ${version#*.} < 407 )) &&
    ! grep -q "CUDART_VERSION >= 13000" "$KOKKOS_SRC/core/src/Cuda/Kokkos_Cuda_Instance.hpp"; then
    die "Kokkos $version does not build with CUDA $cuda (it lacks the CUDA 13 API): use Kokkos 4.7.01 or newer (docs/gpu.md)"
  fi
  compiler=(-DCMAKE_CXX_COMPILER="$KOKKOS_SRC/bin/nvcc_wrapper" -DCMAKE_CXX_FLAGS="-arch=sm_$sm ${CXXFLAGS:-}")
  backends+=(-DKokkos_ENABLE_CUDA=ON -DKokkos_ENABLE_CUDA_LAMBDA=ON "-DKokkos_ARCH_$arch=ON")
else
  compiler=(-DCMAKE_CXX_COMPILER="${CXX:-g++}")
fi
build=${BUILD:-$(mktemp -d /tmp/kokkos-build.XXXXXX)}
echo "build-kokkos: Kokkos $version $KOKKOS_SRC -> $prefix ($arch + SERIAL $host), building in $build"
# KOKKOS_CMAKE_ARGS holds several arguments separated by spaces: split on whitespace, no globbing.
read -r -a extra_args <<<"${KOKKOS_CMAKE_ARGS:-}"
cmake -S "$KOKKOS_SRC" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" \
  "${compiler[@]}" -DCMAKE_CXX_STANDARD=17 "${backends[@]}" \
  -DKokkos_ENABLE_TESTS=OFF -DKokkos_ENABLE_EXAMPLES=OFF -DKokkos_ENABLE_BENCHMARKS=OFF \
  -DBUILD_SHARED_LIBS=ON "${extra_args[@]}"
cmake --build "$build" -j "${JOBS:-$(nproc)}"
cmake --install "$build"
if [[ -n $sm ]]; then
  # The installed launcher defaults to this arch (a project's own compiler check runs it bare).
  sed -i "s/^default_arch=\"sm_[0-9]*\"/default_arch=\"sm_$sm\"/" "$prefix/bin/nvcc_wrapper"
  # Kokkos' config names the source tree's nvcc_wrapper as the compiler its launcher redirects
  # to: point it at the installed one, relative to the config, so the install can be carried
  # to another machine (scripts/gpu-check-all.sh) without the source tree.
  # shellcheck disable=SC2016  # ${CMAKE_CURRENT_LIST_DIR} is written literally, for CMake to expand
  sed -i 's|^set(Kokkos_CXX_COMPILER ".*/nvcc_wrapper")|set(Kokkos_CXX_COMPILER "${CMAKE_CURRENT_LIST_DIR}/../../../bin/nvcc_wrapper")|' \
    "$(dirname "$(find "$prefix" -name KokkosConfigCommon.cmake | head -1)")/KokkosConfigCommon.cmake"
fi
abi=$(grep -o "_GLIBCXX_USE_CXX11_ABI=[01]" <<<"${KOKKOS_CMAKE_ARGS:-}" | tail -1 | cut -d= -f2 || true)
printf 'kokkos %s\narch %s\nhost %s\ncxx11_abi %s\n' "$version" "$arch" "$host" "${abi:-1}" \
  >"$prefix/skyssl-kokkos.txt"
echo "build-kokkos: done ($(du -sh "$prefix" | cut -f1)); configure skyssl with -DKokkos_ROOT=$prefix"
