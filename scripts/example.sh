#!/usr/bin/env bash
# Quick start, command 1: the built-in end-to-end example.
# Synthesises a small survey on 2 ranks, inspects it, reads it back through the sharded reader,
# draws a gallery of augmented views, pre-trains a narrow ResNet-18 with MoCo v2 on 2 ranks
# (about a minute on 2 idle cores) and evaluates it with k-NN probes against a random-init encoder.
# Outputs go to example/ (override with SKYSSL_EXAMPLE_DIR).
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
echo "== what the model sees: originals and augmented views"
"$bin/apps/prep/skyssl-prep" gallery --archive "$out/survey.h5" --out "$out/gallery.png" --count 8 --views 4 \
  --config "$root/configs/example.toml"
echo "== MoCo v2 pre-training on 2 ranks (a fresh run: the previous example run is removed)"
rm -rf "$out/run"
mpiexec -n 2 "$bin/apps/train/skyssl-train" --preset example --run-dir "$out/run" \
  --set data.path="$out/survey.h5"
echo "== evaluating the frozen representations (k-NN probes, similarity search)"
"$bin/apps/eval/skyssl-eval" --run-dir "$out/run" --neighbours 0,1
echo "== done: $out/gallery.png, $out/run/{metrics.jsonl,weights.pt,eval.json,knn_probe.json}"
