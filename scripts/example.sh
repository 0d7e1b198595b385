#!/usr/bin/env bash
# Quick start, command 1: the built-in end-to-end example.
# Synthesises a small survey on 2 ranks, inspects it, reads it back through the sharded reader,
# draws a gallery of augmented views, pre-trains a narrow ResNet-18 with MoCo v2 on 2 ranks
# (about 100 s on 2 idle cores), embeds the survey with it (skyssl-embed, 2 ranks) and
# evaluates the frozen embeddings against random-init and raw-pixel baselines and a supervised
# ResNet trained from scratch on the labels (skyssl-eval), and prints the command that serves
# the run's similarity search (skyssl-serve, docs/serving.md).
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
echo "== embedding every galaxy with the trained encoder (2 ranks, one HDF5 file)"
mpiexec -n 2 "$bin/apps/embed/skyssl-embed" --run-dir "$out/run"
echo "== evaluating the frozen embeddings against random-init, raw-pixel and supervised baselines"
"$bin/apps/eval/skyssl-eval" --run-dir "$out/run"
if /usr/bin/python3 -c "import matplotlib" 2>/dev/null; then
  /usr/bin/python3 "$root/scripts/plot_eval.py" "$out/run/eval"
else
  echo "(no python3-matplotlib: skipping the plots; apt-get install python3-matplotlib)"
fi
echo "== done: $out/gallery.png, $out/run/{metrics.jsonl,weights.pt,embeddings.h5}, $out/run/eval/{eval.json,*.png}"
echo "== to search this run from a browser (http://127.0.0.1:8080/) or the JSON API (docs/serving.md):"
echo "$bin/apps/serve/skyssl-serve --run-dir $out/run --index $out/run/embeddings.flat --listen 127.0.0.1:8080"
