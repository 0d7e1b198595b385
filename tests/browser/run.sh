#!/usr/bin/env bash
# The browser test's driver: a tiny trained run as the README example leaves it (synth survey,
# skyssl-train, skyssl-embed), skyssl-serve on 127.0.0.1 (a free port), page.mjs against it in
# headless Chromium, then SIGTERM and a clean exit. The screenshot goes to $out/page.png (and
# to docs/serving-page.png when SKYSSL_SCREENSHOT_DOCS=1).
#   bash tests/browser/run.sh BUILD_DIR OUT_DIR
# SKYSSL_BROWSER_EXAMPLE=DIR serves the README example's outputs instead of a tiny run (DIR as
# scripts/example.sh leaves it: DIR/survey.h5, DIR/run with its embeddings.h5); that is how
# docs/serving-page.png is made:
#   SKYSSL_BROWSER_EXAMPLE=example SKYSSL_SCREENSHOT_DOCS=1 bash tests/browser/run.sh build /tmp/page
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$1" && pwd)
out=$2
rm -rf "$out"
mkdir -p "$out"
for need in node /usr/bin/chromium "$here/node_modules/playwright-core/package.json"; do
  if ! command -v "$need" >/dev/null && [ ! -e "$need" ]; then
    echo "browser test: $need is missing: run bash tests/browser/setup.sh (as root)" >&2
    exit 1
  fi
done

survey=$out/survey.h5 run=$out/run
if [ -n "${SKYSSL_BROWSER_EXAMPLE:-}" ]; then
  survey=$SKYSSL_BROWSER_EXAMPLE/survey.h5 run=$SKYSSL_BROWSER_EXAMPLE/run
  [ -f "$run/embeddings.h5" ] || { echo "browser test: no $run/embeddings.h5: run bash scripts/example.sh first" >&2; exit 1; }
else
  "$build/apps/prep/skyssl-prep" synth --out "$survey" --count 64 --size 32 --seed 3 >"$out/prep.log"
  "$build/apps/train/skyssl-train" --preset example --run-dir "$run" --set data.path="$survey" \
    --set augment.input_size=32 --set augment.crop=24 --set augment.jitter_max=2 --set model.width=16 \
    --set moco.K=64 --set moco.bn_group=16 --set train.global_batch=16 --set train.max_steps=2 \
    --set train_eval.enabled=false >"$out/train.log" 2>&1 || { cat "$out/train.log"; exit 1; }
  "$build/apps/embed/skyssl-embed" --run-dir "$run" >"$out/embed.log" 2>&1 || { cat "$out/embed.log"; exit 1; }
fi

# The page's inputs: row 5's position in sexagesimal, and row 9 as a FITS cutout.
/usr/bin/python3 - "$out" "$survey" "$run" <<'PY'
import sys, h5py, numpy as np
out, survey, run = sys.argv[1:4]
with h5py.File(f"{run}/embeddings.h5", "r") as e:
    ra, dec = float(e["fields/ra"][5]), float(e["fields/dec"][5])
    open(f"{out}/rows.txt", "w").write(str(e["fields/ra"].shape[0]))
h, rem = divmod(ra / 15 * 3600, 3600); m, s = divmod(rem, 60)
sign = "-" if dec < 0 else "+"; d, rem = divmod(abs(dec) * 3600, 3600); dm, ds = divmod(rem, 60)
open(f"{out}/position.txt", "w").write(f"{int(h):02d}:{int(m):02d}:{s:06.3f} {sign}{int(d):02d}:{int(dm):02d}:{ds:05.2f}")
with h5py.File(survey, "r") as a:
    img = np.asarray(a["images"][9], dtype=">f4")  # (C, H, W): FITS NAXIS1 = W
cards = ["SIMPLE  =                    T", "BITPIX  =                  -32", "NAXIS   =                    3",
         f"NAXIS1  = {img.shape[2]:20d}", f"NAXIS2  = {img.shape[1]:20d}", f"NAXIS3  = {img.shape[0]:20d}", "END"]
head = "".join(c.ljust(80) for c in cards).encode()
head += b" " * (-len(head) % 2880)
data = img.tobytes(); data += b"\0" * (-len(data) % 2880)
open(f"{out}/row9.fits", "wb").write(head + data)
PY

"$build/apps/serve/skyssl-serve" --run-dir "$run" --listen 127.0.0.1:0 >"$out/serve.log" 2>&1 &
pid=$!
trap 'kill -9 $pid 2>/dev/null || true' EXIT
port=
for _ in $(seq 1 600); do
  port=$(sed -n 's|.*on http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$out/serve.log" | head -1)
  [ -n "$port" ] && break
  kill -0 $pid 2>/dev/null || { cat "$out/serve.log"; exit 1; }
  sleep 0.2
done
[ -n "$port" ] || { echo "skyssl-serve did not start"; cat "$out/serve.log"; exit 1; }

status=0
node "$here/page.mjs" "http://127.0.0.1:$port/" "$(cat "$out/position.txt")" "$out/row9.fits" "$out" \
  "$(cat "$out/rows.txt")" || status=$?
kill -TERM $pid
wait $pid || { echo "skyssl-serve exited with $? after SIGTERM"; cat "$out/serve.log"; exit 1; }
trap - EXIT
grep -q "stopped" "$out/serve.log" || { echo "no clean stop in serve.log"; exit 1; }
if [ "${SKYSSL_SCREENSHOT_DOCS:-0}" = 1 ]; then cp "$out/page.png" "$here/../../docs/serving-page.png"; fi
exit $status
