#!/usr/bin/env bash
# Debug build with AddressSanitizer + UndefinedBehaviorSanitizer in its own folder, then the
# whole ctest suite under it. A sanitizer report makes the test fail (no recovery).
#   SKYSSL_SANITIZE_DIR   build folder (default: build-sanitize)
#   extra arguments are passed to ctest (e.g. -R test_model); with none, the whole suite runs
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${SKYSSL_SANITIZE_DIR:-$root/build-sanitize}
flags="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
# setup.sh splits SKYSSL_CMAKE_ARGS on spaces, so the flags travel the way CMake reads them on
# a first configure: CFLAGS, CXXFLAGS, LDFLAGS (a fresh folder is needed to change them).
CFLAGS="$flags" CXXFLAGS="$flags" LDFLAGS="-fsanitize=address,undefined" SKYSSL_BUILD_DIR=$build \
  SKYSSL_CMAKE_ARGS="-DCMAKE_BUILD_TYPE=Debug ${SKYSSL_CMAKE_ARGS:-}" bash "$root/scripts/setup.sh"
source "$root/scripts/mpi-env.sh"
# LibTorch, OpenMPI and HDF5 keep allocations alive until exit by design: leak reports would
# be theirs, not ours. halt_on_error: the first report fails the test that triggered it.
export ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# Sanitized Debug code runs several times slower: give MPI test collectives more time.
export SKYSSL_TEST_COLLECTIVE_TIMEOUT_S=${SKYSSL_TEST_COLLECTIVE_TIMEOUT_S:-120}
# test_allocator measures glibc malloc's page reuse after mallopt(); ASan replaces malloc, so
# mallopt has no effect and the test cannot pass or fail meaningfully here.
echo "sanitize: skipping test_allocator (ASan replaces glibc malloc; mallopt has no effect)"
# test_train_integration trains for real (skyssl-train on 1 and 2 ranks): ~1.5 min in the
# normal build, far past its 600 s ctest limit sanitized. It runs after ctest, on its own, with
# a limit that fits (SKYSSL_SANITIZE_TRAIN_LIMIT_S), when the whole suite is asked for.
cd "$build"
rc=0
ctest --output-on-failure -j "${SKYSSL_TEST_JOBS:-2}" -E '^(test_allocator|test_train_integration)$' \
  "$@" || rc=$?
(($# == 0)) || echo "sanitize: test_train_integration left out (it runs only with the whole suite)"
if (($# == 0)) && [ -x tests/integration/train/test_train_integration ]; then
  echo "sanitize: test_train_integration on its own, outside its 600 s ctest limit" \
    "(limit ${SKYSSL_SANITIZE_TRAIN_LIMIT_S:-3600} s; ~7.5 min here)"
  (cd tests/integration/train && OMP_NUM_THREADS=1 \
    timeout "${SKYSSL_SANITIZE_TRAIN_LIMIT_S:-3600}" ./test_train_integration) || rc=1
fi
exit $rc
