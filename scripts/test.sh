#!/usr/bin/env bash
# Quick start, command 2: install, build, run the tests (unit + MPI at 1, 2, 4 ranks, ...).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/setup.sh"
bash "$root/tests/browser/setup.sh"  # chromium, node, playwright-core for test_serve_browser
source "$root/scripts/mpi-env.sh"
cd "${SKYSSL_BUILD_DIR:-$root/build}"
# Without arguments: everything but the long multi-node tests (label cluster_long: -L cluster).
(($#)) || set -- -LE cluster_long
ctest --output-on-failure -j "${SKYSSL_TEST_JOBS:-2}" "$@"
