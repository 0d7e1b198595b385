#!/usr/bin/env bash
# ctest -L slurm: the job scripts' behaviours that a one-node Slurm can show, all in one private
# Slurm (tests/slurm/mini-slurm.sh), the jobs queued together so that they share its start-up:
#   timemin-update    campaign.sbatch with --time-min, started with a shortened limit (as
#                     backfill does), stopped by USR1: the limit is restored before the requeue,
#                     and the next segment runs with the full limit
#   timemin-resubmit  the same where the limit cannot be restored (SKYSSL_LIMIT_RESTORE=resubmit):
#                     a new job with the full limit continues the campaign to its end
#   slow-rank         campaign.sbatch, 2 ranks, USR1: rank 1 lingers past KillWait after the
#                     trainer exits 85 (as a slow tear-down does); still requeued and completed
#   train-append      train.sbatch requeued mid-run (as Slurm does after a node failure): the
#                     log holds both runs, and the second finished
#   scaling-noplot    scaling.sbatch where python3 has no PIL: the sweep still succeeds, with
#                     its CSV; the job is not requeueable
#   smoke             smoke.sbatch on the local site: its verdict is PASS with the GPU checks n/a
# The jobs train the example preset, narrowed, on one synthetic survey.
#   SKYSSL_SOURCE_DIR, SKYSSL_BINARY_DIR  set by ctest
#   SKYSSL_TRAIN_BIN                      trainer (default $SKYSSL_BINARY_DIR/apps/train/skyssl-train)
#   SKYSSL_SLURM_TEST_KEEP=1              keep the temporary directory (logs, runs) for a look
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
src=${SKYSSL_SOURCE_DIR:?set by ctest}
bin=${SKYSSL_BINARY_DIR:?set by ctest}
train=${SKYSSL_TRAIN_BIN:-$bin/apps/train/skyssl-train}
prep=${SKYSSL_PREP_BIN:-$bin/apps/prep/skyssl-prep}
# ctest's TIMEOUT is 600 s: stop waiting in time to report what is left.
deadline=$((SECONDS + 540))
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=mini-slurm.sh
source "$here/mini-slurm.sh"
# shellcheck source=../../scripts/mpi-env.sh
source "$src/scripts/mpi-env.sh"

say() { printf '[jobscripts-test %3ds] %s\n' "$SECONDS" "$*"; }
fail() { say "FAIL: $*" >&2; exit 1; }

mini_slurm_need || fail "Slurm or munge is not installed"
(($(getconf _NPROCESSORS_ONLN) >= 2)) || fail "needs 2 CPUs for its 2-rank jobs"
[ -x "$train" ] || fail "no trainer at $train"
[ -x "$prep" ] || fail "no skyssl-prep at $prep"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/skyssl-jobscripts-test.XXXXXX")
passed=0 mini_slurm_watcher=""
declare -A job=()
cleanup() {
  set +e
  [ -z "$mini_slurm_watcher" ] || kill "$mini_slurm_watcher" 2>/dev/null
  if ((!passed)); then
    for f in "$tmp"/*.log; do say "--- $f"; tail -n 40 "$f"; done
    for c in "${!job[@]}"; do say "--- $c: job ${job[$c]}"; scontrol show job "${job[$c]}" 2>/dev/null | head -n 8; done
    say "--- slurmctld.log (tail)"; tail -n 30 "$tmp/slurm/log/slurmctld.log" 2>/dev/null
  fi
  mini_slurm_stop
  if [ "${SKYSSL_SLURM_TEST_KEEP:-0}" = 1 ]; then say "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'fail "interrupted"' INT TERM HUP

say "starting a private Slurm in $tmp/slurm"
mini_slurm_session "$tmp" || fail "could not start Slurm"

say "synthesising a survey"
mini_slurm_synth "$prep" "$tmp/survey.h5" || fail "skyssl-prep synth failed"

# Long enough (tens of seconds) that a signal sent after the first step lands mid-run.
steps=${SKYSSL_JOBSCRIPTS_TEST_STEPS:-600}
# scaling.sbatch and smoke.sbatch set their own step counts.
base_sets=(model.width=8 moco.K=256 train.epochs=1000 train_eval.enabled=false checkpoint.every_steps=0
  checkpoint.every_minutes=0 checkpoint.keep=2)
# moco.bn_group=16 divides the per-rank batch of the 1-rank (32) and the 2-rank (16) jobs.
sets=("${base_sets[@]}" train.global_batch=32 moco.bn_group=16 train.log_every=1 "train.max_steps=$steps")
# Rank 1 stays 8 s after the trainer has exited, deaf to TERM: past mini-slurm's KillWait of 5 s.
cat >"$tmp/slow-rank.sh" <<EOF
#!/bin/bash
"$train" "\$@" &
child=\$!
trap 'kill -USR1 \$child 2>/dev/null' USR1
rc=0
while kill -0 \$child 2>/dev/null; do rc=0; wait \$child || rc=\$?; done
if [ "\${SLURM_PROCID:-0}" = 1 ]; then trap '' TERM; echo "slow-rank: rank 1 lingering"; sleep 8; fi
exit \$rc
EOF
chmod +x "$tmp/slow-rank.sh"
# A PIL that cannot be imported, first on python3's path: as on a machine without it.
mkdir -p "$tmp/nopil/PIL"
echo 'raise ImportError("PIL hidden by the jobscripts test")' >"$tmp/nopil/PIL/__init__.py"

# submit CASE SCRIPT [sbatch options...]: the environment is the caller's plus the local site's.
# The scripts' USR1 warning (300 s before the end) would come at once with these 3-minute
# limits: SBATCH_SIGNAL moves it past the end, and travels to a resubmitted segment too.
submit() {
  local c=$1 script=$2
  shift 2
  job[$c]=$(cd "$tmp" && SKYSSL_SITE=local SKYSSL_ROOT="$src" SKYSSL_BUILD_DIR="$bin" \
    SKYSSL_TRAIN_BIN="${TRAIN_BIN:-$train}" SKYSSL_PRESET=example SKYSSL_SET="${SET:-${sets[*]}}" \
    SKYSSL_DATA="$tmp/survey.h5" SKYSSL_RUN_DIR="$tmp/$c" SKYSSL_CKPT_MINUTES=0 SKYSSL_CKPT_KEEP=2 \
    SBATCH_SIGNAL=B:USR1@5 sbatch --parsable --job-name="$c" --nodes=1 --cpus-per-task=1 --output="$tmp/$c.log" \
    "$@" "$src/jobscripts/perlmutter/$script") || fail "$c: sbatch failed"
  say "$c: job ${job[$c]} ($script $*)"
}
field() { scontrol show job "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1; }
running_a_step() { [ -f "$1/metrics.jsonl" ] && grep -q '"step_s"' "$1/metrics.jsonl"; }

# Backfill would start these with their --time-min; holding them and lowering the limit by hand
# gives the same job record: TimeLimit 1 min of the asked 3, TimeMin 1.
for c in timemin-update timemin-resubmit; do
  mode=auto
  [ "$c" = timemin-update ] || mode=resubmit
  SKYSSL_RANKS=1 SKYSSL_TIME_LIMIT=3 SKYSSL_LIMIT_RESTORE=$mode \
    submit "$c" campaign.sbatch --hold --ntasks=1 --time=3 --time-min=1
  scontrol update JobId="${job[$c]}" TimeLimit=1 || fail "$c: could not lower the time limit"
  [ "$(field "${job[$c]}" TimeLimit)" = 00:01:00 ] || fail "$c: TimeLimit not lowered to 1 min"
  scontrol release "${job[$c]}"
done
SKYSSL_RANKS=2 SKYSSL_TIME_LIMIT=3 TRAIN_BIN="$tmp/slow-rank.sh" \
  submit slow-rank campaign.sbatch --ntasks=2 --time=3 --time-min=3
SKYSSL_RANKS=1 submit train-append train.sbatch --ntasks=1 --time=3
SET="${base_sets[*]}" SKYSSL_RANKS=1 PYTHONPATH="$tmp/nopil" SKYSSL_NODE_COUNTS=1 SKYSSL_STEPS=10 SKYSSL_BATCH_PER_RANK=16 \
  SKYSSL_OUT="$tmp/scaling-noplot" submit scaling-noplot scaling.sbatch --ntasks=1 --time=3
SET="${base_sets[*]}" SKYSSL_RANKS=2 SKYSSL_SMOKE_DIR="$tmp/smoke" submit smoke smoke.sbatch --ntasks=2 --time=3

# One action per case once its trainer is past its first step; then wait for every job to end.
declare -A done_action=()
act() {
  case $1 in
    timemin-* | slow-rank) scancel --batch --signal=USR1 "${job[$1]}" ;;  # as Slurm's warning
    train-append) scontrol requeue "${job[$1]}" ;;                       # as after a node failure
  esac
}
terminal='^(COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE|PREEMPTED)$'
while :; do
  pending=0
  for c in timemin-update timemin-resubmit slow-rank train-append; do
    if [ -z "${done_action[$c]:-}" ]; then
      if running_a_step "$tmp/$c"; then
        say "$c: training; $( [ "$c" = train-append ] && echo requeueing || echo 'sending USR1 to the batch shell')"
        act "$c" || fail "$c: the action failed"
        done_action[$c]=1
      elif [[ $(field "${job[$c]}" JobState) =~ $terminal ]]; then
        # Its action can never come: say so now instead of waiting for the deadline.
        say "--- $c.log"; tail -n 20 "$tmp/$c.log"
        fail "$c: job ${job[$c]} ended $(field "${job[$c]}" JobState) before its trainer ran a step"
      else
        pending=1
      fi
    fi
  done
  # The resubmitted segment is a new job: follow it once it exists.
  if [ -z "${job[timemin-resubmit-next]:-}" ] && [ -f "$tmp/timemin-resubmit.log" ]; then
    n=$(sed -n 's/.*submitted job \([0-9]*\) for segment.*/\1/p' "$tmp/timemin-resubmit.log" | head -n 1)
    [ -z "$n" ] || { job[timemin-resubmit-next]=$n; say "timemin-resubmit: next segment is job $n"; }
  fi
  for c in "${!job[@]}"; do
    [[ $(field "${job[$c]}" JobState) =~ $terminal ]] || pending=1
  done
  [ -n "${job[timemin-resubmit-next]:-}" ] || [ "$(field "${job[timemin-resubmit]}" JobState)" != COMPLETED ] || pending=1
  ((pending)) || break
  ((SECONDS < deadline)) || fail "jobs still running at the deadline"
  sleep 0.5
done

expect_done() {  # CASE [JOB]: ended COMPLETED, exit code 0
  local id=${2:-${job[$1]}}
  [ "$(field "$id" JobState)" = COMPLETED ] || fail "$1: job $id ended $(field "$id" JobState), expected COMPLETED"
  [ "$(field "$id" ExitCode)" = 0:0 ] || fail "$1: job $id exit code $(field "$id" ExitCode), expected 0:0"
}
has() { grep -qE "$2" "$tmp/$1.log" || fail "$1: no '$2' in its log"; }

# timemin-update: restored before the requeue, and segment 2 ran with the full 3 minutes.
expect_done timemin-update
# At least one requeue (ours); a loaded machine may need another segment (Slurm's own warning
# before the 3-minute limit), which the campaign handles the same way.
restarts_at_least_1() {
  local n
  n=$(field "${job[$1]}" Restarts)
  ((${n:-0} >= 1)) || fail "$1: ${n:-no} requeues, expected at least 1"
}
restarts_at_least_1 timemin-update
has timemin-update 'segment 1 of the campaign .*time limit 00:01:00'
has timemin-update 'time limit 1 -> 3 min for the next segment'
has timemin-update 'segment 2 of the campaign .*time limit 00:03:00'
[ -f "$tmp/timemin-update/weights.pt" ] || fail "timemin-update: no weights.pt"

# timemin-resubmit: the first job ended cleanly, the new one had 3 minutes and finished the run.
expect_done timemin-resubmit
next=${job[timemin-resubmit-next]}
expect_done timemin-resubmit "$next"
[ "$(field "$next" TimeLimit)" = 00:03:00 ] || fail "timemin-resubmit: job $next has TimeLimit $(field "$next" TimeLimit), expected 00:03:00"
[ "$(field "$next" TimeMin)" = 00:01:00 ] || fail "timemin-resubmit: job $next has TimeMin $(field "$next" TimeMin), expected 00:01:00"
has timemin-resubmit "segment 2 of the campaign .*time limit 00:03:00"
has timemin-resubmit 'training complete'
[ -f "$tmp/timemin-resubmit/weights.pt" ] || fail "timemin-resubmit: no weights.pt"

# slow-rank: 85 survived the lingering rank; requeued (at least once); completed.
expect_done slow-rank
restarts_at_least_1 slow-rank
has slow-rank 'rank 1 lingering'
has slow-rank 'trainer exited with code 85'
has slow-rank 'requeueing job'
[ -f "$tmp/slow-rank/weights.pt" ] || fail "slow-rank: no weights.pt"

# train-append: both runs in one log, the second resumed.
expect_done train-append
[ "$(grep -c 'training on 1 node' "$tmp/train-append.log")" = 2 ] ||
  fail "train-append: $(grep -c 'training on 1 node' "$tmp/train-append.log") runs in the log, expected 2 (truncated on requeue?)"
has train-append 'training complete'
# Whether the first run managed a checkpoint before KillWait ran out depends on the machine's
# load; the second run either resumed or started over, and finished either way.
if grep -q '"event": *"resume"' "$tmp/train-append/metrics.jsonl"; then
  say "train-append: the second run resumed from the first run's checkpoint"
else
  say "train-append: the first run left no checkpoint; the second started over"
fi

# scaling-noplot: a success with the CSV, the missing PIL reported; never requeued.
expect_done scaling-noplot
[ -s "$tmp/scaling-noplot/scaling.csv" ] || fail "scaling-noplot: no scaling.csv"
has scaling-noplot 'WARNING: scaling.py report failed after writing the CSV'
has scaling-noplot 'scaling sweep complete'
[ "$(field "${job[scaling-noplot]}" Requeue)" = 0 ] || fail "scaling-noplot: the job is requeueable (Requeue=$(field "${job[scaling-noplot]}" Requeue))"

# smoke: the verdict, every check named.
expect_done smoke
has smoke '==== VERDICT: PASS'
for c in 'n/a +GPUs per node' 'n/a +NCCL ' 'ok +HDF5 parallel' 'n/a +Kokkos GPU arch' 'ok +training +50 steps' 'n/a +NCCL net plugin'; do
  has smoke "^  $c"
done
sed -n '/==== skyssl smoke test/,$p' "$tmp/smoke.log"

say "PASS: all six cases"
passed=1
