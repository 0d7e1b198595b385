#!/usr/bin/env bash
# ctest -L slurm: the job scripts parse (bash -n) and are shellcheck-clean. A typo in a job
# script otherwise surfaces hours later, in a queue, on someone else's allocation.
set -euo pipefail
src=${SKYSSL_SOURCE_DIR:?set by ctest}
cd "$src"
files=(jobscripts/perlmutter/*.sbatch jobscripts/common.sh jobscripts/sites/*.sh tests/slurm/*.sh)
for f in "${files[@]}"; do bash -n "$f"; done
command -v shellcheck >/dev/null || { echo "shellcheck missing: apt-get install shellcheck (scripts/setup.sh does)" >&2; exit 1; }
shellcheck -x "${files[@]}"
echo "${#files[@]} scripts: bash -n and shellcheck clean"
