#!/usr/bin/env bash
# ctest -L slurm: jobscripts/perlmutter/campaign.sbatch on a real, private one-node Slurm.
# --time=1 is Slurm's minimum (one minute), and slurmctld sends the --signal=B:USR1@20 warning
# at its first time-limit check (every ~30 s) at most 20 + 30 s before the end: 10-40 s into a
# segment. The trainer checkpoints and exits 85, the script requeues the job, and it starts
# again ~6 s later (cred_expire=5 in the private Slurm), so later segments end at the next
# check: ~24 s each. The job is released 25 s before a check so the first one is that long
# too, and the run is sized (by this machine's fastest steps, so a machine that speeds up
# after the calibration still needs them) to need three or four segments.
# Checks: >= 2 requeues (SLURM_RESTART_COUNT in the log,
# Restarts in scontrol, >= 2 "resume" events in metrics.jsonl), the job ended COMPLETED with
# exit code 0 on its own, and weights.pt and queue.pt are byte-identical to those of the same
# config trained without interruption under mpiexec.
#   SKYSSL_SOURCE_DIR, SKYSSL_BINARY_DIR  set by ctest
#   SKYSSL_TRAIN_BIN                      trainer (default $SKYSSL_BINARY_DIR/apps/train/skyssl-train)
#   SKYSSL_SLURM_TEST_SECONDS             uninterrupted training time to aim for (default 70)
#   SKYSSL_SLURM_TEST_KEEP=1              keep the temporary directory (logs, runs) for a look
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
src=${SKYSSL_SOURCE_DIR:?set by ctest}
bin=${SKYSSL_BINARY_DIR:?set by ctest}
train=${SKYSSL_TRAIN_BIN:-$bin/apps/train/skyssl-train}
target_s=${SKYSSL_SLURM_TEST_SECONDS:-70}
# ctest's TIMEOUT is 400 s: give up waiting for the job in time to run the uninterrupted
# reference afterwards, and to clean up and report, rather than be killed.
deadline=$((SECONDS + 380 - target_s - 20))
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=mini-slurm.sh
source "$here/mini-slurm.sh"
# shellcheck source=../../scripts/mpi-env.sh
source "$src/scripts/mpi-env.sh"

say() { printf '[slurm-test %3ds] %s\n' "$SECONDS" "$*"; }
fail() { say "FAIL: $*" >&2; exit 1; }

mini_slurm_need || fail "Slurm or munge is not installed"
(($(getconf _NPROCESSORS_ONLN) >= 2)) || fail "needs 2 CPUs for its 2 ranks"
[ -x "$train" ] || fail "no trainer at $train"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/skyssl-slurm-test.XXXXXX")
passed=0 mini_slurm_watcher=""
cleanup() {
  set +e
  [ -z "$mini_slurm_watcher" ] || kill "$mini_slurm_watcher" 2>/dev/null
  if ((!passed)); then
    say "--- campaign log"; cat "$tmp/campaign.log" 2>/dev/null
    say "--- scontrol show job"; scontrol show job "${job:-0}" 2>/dev/null
    say "--- slurmctld.log (tail)"; tail -n 30 "$tmp/slurm/log/slurmctld.log" 2>/dev/null
    say "--- slurmd.log (tail)"; tail -n 30 "$tmp/slurm/log/slurmd.log" 2>/dev/null
  fi
  mini_slurm_stop
  if [ "${SKYSSL_SLURM_TEST_KEEP:-0}" = 1 ]; then say "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'fail "interrupted"' INT TERM HUP

say "starting a private Slurm in $tmp/slurm"
mini_slurm_session "$tmp" || fail "could not start Slurm"

say "synthesising a survey"
mini_slurm_synth "$bin/apps/prep/skyssl-prep" "$tmp/survey.h5" || fail "skyssl-prep synth failed"

# The config both runs share: the example preset, narrowed. train.device and train.threads are
# what the local site file sets too; the checkpoint keys only change when states are written.
# train.max_steps only shortens a run, so epochs are plenty (8 steps each) and it decides.
sets=("data.path=$tmp/survey.h5" model.width=8 moco.K=256 train.global_batch=64 train.epochs=1000 train.log_every=1
  train_eval.enabled=false train.device=cpu train.threads=1 checkpoint.every_steps=0
  checkpoint.every_minutes=0 checkpoint.keep=2)
set_args() { local s; args=(--preset example); for s in "$@"; do args+=(--set "$s"); done; }

# Size the run by this machine's speed: a run too quick for two segments proves nothing. The
# fast end of the step times (10th percentile, after the first ten steps' warm-up), not the
# median: CI once calibrated at 40 ms/step and then ran at 30, finishing after one requeue.
say "timing a few steps"
set_args "${sets[@]}" train.max_steps=30
mpiexec -n 2 "$train" "${args[@]}" --run-dir "$tmp/calibrate" >"$tmp/calibrate.log" 2>&1 ||
  { cat "$tmp/calibrate.log"; fail "the trainer failed on the test config"; }
steps=$(python3 - "$tmp/calibrate/metrics.jsonl" "$target_s" <<'PY'
import json, math, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
dt = sorted(r["step_s"] for r in recs if "step_s" in r and r.get("step", 0) > 10)
print(max(40, min(4000, math.ceil(float(sys.argv[2]) / dt[len(dt) // 10]))))
PY
)
say "training for $steps steps (~${target_s} s uninterrupted)"
sets+=("train.max_steps=$steps")

say "submitting campaign.sbatch (local site, --time=1, --signal=B:USR1@20)"
job=$(cd "$tmp" && SKYSSL_SITE=local SKYSSL_ROOT="$src" SKYSSL_BUILD_DIR="$bin" SKYSSL_TRAIN_BIN="$train" \
  SKYSSL_RANKS=2 SKYSSL_PRESET=example SKYSSL_RUN_DIR="$tmp/campaign" SKYSSL_SET="${sets[*]}" \
  SKYSSL_GLOBAL_BATCH=64 SKYSSL_CKPT_MINUTES=0 SKYSSL_CKPT_KEEP=2 SKYSSL_TIME_LIMIT=00:01:00 \
  sbatch --parsable --hold --job-name=skyssl-test --nodes=1 --ntasks=2 --cpus-per-task=1 \
  --time=1 --time-min=1 --signal=B:USR1@20 --output="$tmp/campaign.log" \
  "$src/jobscripts/perlmutter/campaign.sbatch") || fail "sbatch failed"
say "job $job submitted (held)"
check=
for ((i = 0; i < 40; i++)); do
  check=$(mini_slurm_last_check_ms)
  [ -z "$check" ] || break
  sleep 1
done
if [ -n "$check" ]; then
  now=$(date +%s%3N)
  release=$((check + 5000))  # = the next check - 25 s
  while ((release < now + 500)); do release=$((release + 30000)); done
  say "releasing it in $(((release - now) / 1000)) s, 25 s before a time-limit check"
  sleep "$(((release - now) / 1000)).$(printf %03d $(((release - now) % 1000)))"
else
  say "no time-limit check in slurmctld.log: releasing now (the first segment may be 10-40 s)"
fi
scontrol release "$job"

state=
while ((SECONDS < deadline)); do
  state=$(scontrol show job "$job" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p')
  case $state in
    COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | BOOT_FAIL | DEADLINE | PREEMPTED) break ;;
  esac
  sleep 2
done
info=$(scontrol show job "$job")
restarts=$(sed -n 's/.*Restarts=\([0-9]*\).*/\1/p' <<<"$info")
say "job $job: $state after $restarts requeues; the segments:"
grep -E 'segment [0-9]|received SIG|exited with|requeueing|complete' "$tmp/campaign.log" | sed 's/^/    /' || true
[ "$state" = COMPLETED ] || fail "job state ${state:-unknown} (deadline passed?), expected COMPLETED"
grep -q 'ExitCode=0:0' <<<"$info" || fail "job exit code is not 0: $(grep -o 'ExitCode=[0-9:]*' <<<"$info")"
((restarts >= 2)) || fail "the job was requeued $restarts times, expected >= 2"
for n in 0 1 2; do
  grep -q "SLURM_RESTART_COUNT=$n)" "$tmp/campaign.log" || fail "no segment with SLURM_RESTART_COUNT=$n in the log"
done
resumes=$(python3 -c 'import json, sys
print(sum(json.loads(l).get("event") == "resume" for l in open(sys.argv[1]) if l.strip()))' "$tmp/campaign/metrics.jsonl")
((resumes >= 2)) || fail "$resumes resume events in metrics.jsonl, expected >= 2"
[ -f "$tmp/campaign/weights.safetensors" ] || fail "the campaign left no weights.safetensors"

say "the same config without interruption (mpiexec -n 2)"
set_args "${sets[@]}"
mpiexec -n 2 "$train" "${args[@]}" --run-dir "$tmp/reference" >"$tmp/reference.log" 2>&1 ||
  { cat "$tmp/reference.log"; fail "the uninterrupted run failed"; }
diff "$tmp/reference/config.toml" "$tmp/campaign/config.toml" >&2 ||
  fail "the two runs resolved different configs"
for f in weights.safetensors weights.pt queue.pt; do
  if ! cmp "$tmp/reference/$f" "$tmp/campaign/$f"; then
    # torch::save is deterministic, so any byte differs only if a tensor does: say which.
    /usr/bin/python3 - "$tmp/reference/$f" "$tmp/campaign/$f" <<'PY' >&2 || true
import sys, torch
def tensors(p):
    m = torch.jit.load(p)
    return dict(list(m.named_parameters()) + list(m.named_buffers()))
a, b = tensors(sys.argv[1]), tensors(sys.argv[2])
for k in sorted(set(a) | set(b)):
    if k not in a or k not in b or not torch.equal(a[k], b[k]):
        d = (a[k] - b[k]).abs().max().item() if k in a and k in b else "missing"
        print(f"  {k}: differs ({d})")
PY
    fail "$f after $restarts requeues differs from the uninterrupted run's"
  fi
done
say "PASS: $restarts requeues, $resumes resumes, weights.pt and queue.pt identical to the uninterrupted run"
passed=1
