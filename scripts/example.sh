#!/usr/bin/env bash
# Quick start, command 1: the built-in end-to-end example.
# Synthesises a small survey on 2 ranks, inspects it, reads it back through the sharded reader,
# draws a gallery of augmented views, pre-trains a narrow ResNet-18 with MoCo v2 on 2 ranks
# (about 100 s on 2 idle cores), embeds the survey with it (skyssl-embed, 2 ranks) and
# evaluates the frozen embeddings against random-init and raw-pixel baselines and a supervised
# ResNet trained from scratch on the labels (skyssl-eval), and prints the command that serves
# the run's similarity search (skyssl-serve, docs/serving.md).
# Outputs go to example/ (override with SKYSSL_EXAMPLE_DIR). Ends with the evaluation table
# (scripts/example_table.py, also written to example/example-table.md), naming the machine.
#   bash scripts/example.sh                 # one run, train.seed = 1, in example/run/
#   bash scripts/example.sh --seeds 1,2,3   # one run per seed in example/run-seed<N>/; the table
#                                           # gives each figure's mean and range over the seeds
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seeds=1
while (($#)); do
  case $1 in
    --seeds) seeds=${2:?--seeds needs a comma-separated list, e.g. 1,2,3}; shift 2 ;;
    *) echo "example.sh: unknown argument '$1' (usage: example.sh [--seeds 1,2,3])" >&2; exit 2 ;;
  esac
done
IFS=, read -r -a seed_list <<<"$seeds"
for s in "${seed_list[@]}"; do
  [[ $s =~ ^[0-9]+$ ]] || { echo "example.sh: --seeds: '$s' is not a whole number" >&2; exit 2; }
done
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
runs=()
for seed in "${seed_list[@]}"; do
  run="$out/run"
  ((${#seed_list[@]} == 1)) || run="$out/run-seed$seed"
  runs+=("$run")
  echo "== MoCo v2 pre-training on 2 ranks, train.seed = $seed (a fresh run: $run is removed first)"
  rm -rf "$run"
  mpiexec -n 2 "$bin/apps/train/skyssl-train" --preset example --run-dir "$run" \
    --set data.path="$out/survey.h5" --set train.seed="$seed"
  echo "== embedding every galaxy with the trained encoder (2 ranks, one HDF5 file)"
  mpiexec -n 2 "$bin/apps/embed/skyssl-embed" --run-dir "$run"
  echo "== evaluating the frozen embeddings against random-init, raw-pixel and supervised baselines"
  "$bin/apps/eval/skyssl-eval" --run-dir "$run"
  if /usr/bin/python3 -c "import matplotlib" 2>/dev/null; then
    /usr/bin/python3 "$root/scripts/plot_eval.py" "$run/eval"
  else
    echo "(no python3-matplotlib: skipping the plots; apt-get install python3-matplotlib)"
  fi
done
echo "== the evaluation table (also in $out/example-table.md)"
/usr/bin/python3 "$root/scripts/example_table.py" "${runs[@]}" --out "$out/example-table.md"
echo "== done: $out/gallery.png, ${runs[*]} (metrics.jsonl, weights.safetensors, embeddings.h5, eval/)"
echo "== to search the run from a browser (http://127.0.0.1:8080/) or the JSON API (docs/serving.md):"
echo "$bin/apps/serve/skyssl-serve --run-dir ${runs[0]} --index ${runs[0]}/embeddings.flat --listen 127.0.0.1:8080"
