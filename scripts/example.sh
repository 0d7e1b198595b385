#!/usr/bin/env bash
# Quick start, command 1: the built-in end-to-end example.
# Synthesises a small survey on 2 ranks, inspects it, and reads it back through the sharded
# reader. Outputs go to example/ (override with SKYSSL_EXAMPLE_DIR).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/setup.sh"
source "$root/scripts/mpi-env.sh"
bin=${SKYSSL_BUILD_DIR:-$root/build}
out=${SKYSSL_EXAMPLE_DIR:-$root/example}
mkdir -p "$out"
echo "== synthesising a survey (2 ranks)"
mpiexec -n 2 "$bin/apps/prep/skyssl-prep" synth --out "$out/survey.h5" --count 2048 --size 64 --seed 1
echo "== inspecting it"
"$bin/apps/prep/skyssl-prep" inspect "$out/survey.h5"
echo "== reading it back through the sharded reader (2 ranks)"
mpiexec -n 2 "$bin/apps/prep/skyssl-prep" scan "$out/survey.h5" --batch 256
