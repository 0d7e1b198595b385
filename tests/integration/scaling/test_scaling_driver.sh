#!/bin/sh
# benchmarks/scaling/scaling.py run at 1 and 2 ranks must write scaling.csv (a header and one
# row per rank count, 100% efficiency at 1 rank, the phase columns filled), scaling.json and a
# PNG plot; a missing run directory is reported, not skipped.
# Usage: test_scaling_driver.sh <source dir> <build dir> <scratch dir>
set -eu
src=$1 build=$2 work=$3
rm -rf "$work"
mkdir -p "$work"
mpiexec -n 2 "$build/apps/prep/skyssl-prep" synth --out "$work/survey.h5" --count 256 --size 48 \
  --seed 2 >"$work/synth.log" 2>&1
/usr/bin/python3 "$src/benchmarks/scaling/scaling.py" run --ranks 1 2 --mode weak --steps 4 \
  --log-every 2 --local-batch 16 --build "$build" --archive "$work/survey.h5" --out "$work/out" \
  --set augment.input_size=48 --set augment.crop=32 --set augment.jitter_max=2 \
  --set model.width=4 >"$work/driver.log" 2>&1 || { cat "$work/driver.log"; exit 1; }
/usr/bin/python3 - "$work/out" <<'PY'
import csv, json, os, sys
out = sys.argv[1]
rows = list(csv.DictReader(open(os.path.join(out, "scaling.csv"))))
assert [r["ranks"] for r in rows] == ["1", "2"], rows
assert [r["global_batch"] for r in rows] == ["16", "32"], rows
assert abs(float(rows[0]["efficiency"]) - 1.0) < 1e-9, rows[0]
for r in rows:
    assert float(r["images_per_s"]) > 0, r
    assert float(r["query_forward_s"]) > 0 and float(r["backward_s"]) > 0, r
    eff = float(r["images_per_s"]) / (float(rows[0]["images_per_s"]) * int(r["ranks"]))
    assert abs(eff - float(r["efficiency"])) < 1e-3, (eff, r)
j = json.load(open(os.path.join(out, "scaling.json")))
assert len(j["results"]) == 2 and "key_path" in j["results"][1]["phases"], j
png = open(os.path.join(out, "scaling_weak.png"), "rb").read()
assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2000, len(png)
assert not os.path.exists(os.path.join(out, "scaling_strong.png"))
print("scaling driver: CSV, JSON and PNG checked")
PY
# report on a directory whose run has no metrics: one clear line, exit 1.
mkdir -p "$work/bad/weak-r4"
if /usr/bin/python3 "$src/benchmarks/scaling/scaling.py" report --out "$work/bad" >"$work/bad.log" 2>&1; then
  echo "report accepted a run without metrics"; exit 1
fi
grep -q "weak-r4/metrics.jsonl is missing" "$work/bad.log" || { cat "$work/bad.log"; exit 1; }
echo ok
