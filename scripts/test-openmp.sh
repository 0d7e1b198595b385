#!/usr/bin/env bash
# The kernels' tests (tests/unit/kernels: one body per Kokkos backend, augment.threads) under
# Kokkos' OpenMP backend, on the host: a second build directory configured against a host
# Kokkos with Serial + OpenMP built from source (scripts/build-kokkos.sh PREFIX NONE OPENMP),
# building only test_kernels and running the tests labelled "openmp" (views bit for bit equal to
# Serial's). The main build and CI keep Debian's Serial Kokkos; this is not part of CI (it needs
# a Kokkos source tree, which this repository does not carry). docs/gpu.md.
#
#   bash scripts/test-openmp.sh
# Environment: KOKKOS_OPENMP_ROOT (default .deps/kokkos-openmp), SKYSSL_OPENMP_BUILD_DIR (default
# build-openmp), SKYSSL_JOBS (default nproc).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
kokkos=${KOKKOS_OPENMP_ROOT:-$root/.deps/kokkos-openmp}
build=${SKYSSL_OPENMP_BUILD_DIR:-$root/build-openmp}
jobs=${SKYSSL_JOBS:-$(nproc)}
die() { echo "test-openmp: $*" >&2; exit 2; }
grep -qx "host OPENMP" "$kokkos/skyssl-kokkos.txt" 2>/dev/null ||
  die "no host Kokkos with OpenMP at $kokkos: KOKKOS_SRC=/path/to/kokkos bash scripts/build-kokkos.sh $kokkos NONE OPENMP (or set KOKKOS_OPENMP_ROOT)"
export CCACHE_BASEDIR=$root CCACHE_NOHASHDIR=1
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKokkos_ROOT="$kokkos" \
  -DSKYSSL_BUILD_BENCHMARKS=OFF >"$build.configure.log" 2>&1 ||
  { cat "$build.configure.log" >&2; die "configure failed (log: $build.configure.log)"; }
grep "Kokkos" "$build.configure.log" | grep -q "OPENMP" ||
  die "the configure did not pick up $kokkos (log: $build.configure.log)"
cmake --build "$build" -j "$jobs" --target test_kernels
cd "$build"
# shellcheck source=/dev/null
source "$root/scripts/mpi-env.sh"
ctest -L openmp --output-on-failure
