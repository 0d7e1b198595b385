#!/usr/bin/env bash
# Quick start, command 2: install, build, run every test (unit + MPI at 1, 2, 4 ranks).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/setup.sh"
bash "$root/tests/browser/setup.sh"  # chromium, node, playwright-core for test_serve_browser
source "$root/scripts/mpi-env.sh"
cd "${SKYSSL_BUILD_DIR:-$root/build}"
ctest --output-on-failure -j "${SKYSSL_TEST_JOBS:-2}" "$@"
