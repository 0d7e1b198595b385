#!/usr/bin/env bash
# ctest -L cluster_long: the README example's config (configs/example.toml, 8 steps) trained
# by jobscripts/perlmutter/train.sbatch on the local site (SKYSSL_SITE=local: srun --mpi=pmix)
# in a two-node Slurm on 2 emulated hosts (cluster-slurm.sh), 2 ranks a node, against the same
# 4 ranks under mpiexec on one host:
#  - the job completes; every rank reports its host (n1, n2), local rank and "2 node(s)";
#  - n2 sent the gradients over its link (TCP between the nodes);
#  - the per-step losses agree within the tolerance docs/distributed.md states (check_runs.py).
# Then a node failure: every process of n2 (its slurmd, slurmstepd and ranks) SIGKILLed
# mid-step. Nothing reports the ranks on n2 as exited (their slurmstepd died with them) and the
# ranks on n1 wait in a collective, so Slurm ends the job when it finds n2 not responding
# (SlurmdTimeout, 10 s here): srun names n2 ("Node failure on n2"), n2 is set down and the job,
# submitted with --requeue, is requeued (PENDING, restarts 1) within CLUSTER_SLURM_KILL_S seconds
# (default 60). The test prints what it saw.
# Env: SKYSSL_SOURCE_DIR, SKYSSL_BINARY_DIR (ctest sets both); SKYSSL_SLURM_TEST_KEEP=1 keeps
# the work directory.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
src=${SKYSSL_SOURCE_DIR:?} build=${SKYSSL_BINARY_DIR:?}
# Its own cluster: the tests may run at the same time as each other or a hand-made cluster.
CLUSTER_PREFIX=skyc-slurm CLUSTER_DIR=/run/skyssl-cluster-slurm
# shellcheck source=cluster-lib.sh
source "$src/tests/cluster/cluster-lib.sh"
# shellcheck source=cluster-slurm.sh
source "$src/tests/cluster/cluster-slurm.sh"
# shellcheck source=../../scripts/mpi-env.sh
source "$src/scripts/mpi-env.sh"
export OMP_NUM_THREADS=1
train=$build/apps/train/skyssl-train prep=$build/apps/prep/skyssl-prep
kill_s=${CLUSTER_SLURM_KILL_S:-60}

say() { echo "slurm_train_test: $*"; }
# The work directory is shared by the hosts (they share the filesystem); munged wants the
# parents of its socket directory traversable.
work=$(mktemp -d "${TMPDIR:-/tmp}/skyssl-cluster-slurm.XXXXXX")
chmod 755 "$work"
passed=0
cleanup() {
  set +e
  if ((!passed)); then
    for f in "$work"/*.log; do say "--- $f"; tail -n 40 "$f"; done
    say "--- slurmctld.log (tail)"
    tail -n 30 "$work/slurm/log/slurmctld.log" 2>/dev/null
  fi
  cluster_slurm_stop
  cluster_down
  if [ "${SKYSSL_SLURM_TEST_KEEP:-0}" = 1 ]; then say "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
fail() { say "FAIL: $*"; exit 1; }

t_start=$SECONDS
cluster_up 2 2
cluster_slurm_start "$work/slurm" || fail "the two-node Slurm did not come up"
say "Slurm up on n1, n2: $((SECONDS - t_start)) s"

mpiexec -n 2 "$prep" synth --out "$work/survey.h5" --count 2048 --size 64 --seed 1 \
  >"$work/synth.log" 2>&1 || fail "skyssl-prep synth failed"
# train_test.sh's run: the example, 8 steps, every step logged, the watchdog armed;
# moco.bn_group=16 divides a rank's 16 images. The site's own settings (device, threads) are
# given to the one-host run too, so that both runs have the same config.
sets=(moco.bn_group=16 train.max_steps=8 train.log_every=1 train_eval.enabled=false
  checkpoint.every_steps=4 checkpoint.keep=2 dist.timeout_s=120)
site_sets=(train.device=cpu train.threads=1)

field() { cluster_slurm scontrol show job "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1; }
# submit NAME [SKYSSL_SET...]: train.sbatch on 2 nodes x 2 ranks; prints the job id.
submit() {
  local name=$1
  shift
  (cd "$work" && SKYSSL_SITE=local SKYSSL_ROOT="$src" SKYSSL_BUILD_DIR="$build" SKYSSL_TRAIN_BIN="$train" \
    SKYSSL_PRESET=example SKYSSL_SET="$*" SKYSSL_DATA="$work/survey.h5" SKYSSL_RUN_DIR="$work/$name" \
    cluster_slurm sbatch --parsable --job-name="$name" --nodes=2 --ntasks-per-node=2 --time=10 \
    --output="$work/$name.log" "$src/jobscripts/perlmutter/train.sbatch")
}
tx_bytes() { ip -n "$(cluster_ns "$1")" -s -j link show eth0 | /usr/bin/python3 -c \
  'import json,sys; print(json.load(sys.stdin)[0]["stats64"]["tx"]["bytes"])'; }

# The names check_runs.py reads: two-hosts(.log) and one-host(.log).
t0=$SECONDS
before=$(tx_bytes n2)
job=$(submit two-hosts "${sets[@]}") || fail "sbatch failed"
say "job $job: train.sbatch on 2 nodes x 2 ranks"
state=""
while ((SECONDS - t0 < 400)); do
  state=$(field "$job" JobState)
  case $state in
    COMPLETED) break ;;
    PENDING | RUNNING | CONFIGURING | COMPLETING | "") sleep 2 ;;
    *) fail "job $job ended $state (exit code $(field "$job" ExitCode), reason $(field "$job" Reason))" ;;
  esac
done
[ "$state" = COMPLETED ] || fail "job $job still $state after 400 s"
sent=$(($(tx_bytes n2) - before))
say "2 nodes x 2 ranks under Slurm: $((SECONDS - t0)) s; n2 sent $((sent / 1000000)) MB over its link"
((sent > 8 * 1000000)) || fail "n2 sent only $sent bytes: the nodes did not talk over TCP"
grep -q "launch: srun --mpi=pmix --nodes=2 --ntasks=4" "$work/two-hosts.log" ||
  fail "the job did not launch with srun on 2 nodes (the local site's launcher)"

t0=$SECONDS
site_args=()
for s in "${sets[@]}" "${site_sets[@]}"; do site_args+=(--set "$s"); done
mpiexec -n 4 "$train" --preset example --set "data.path=$work/survey.h5" "${site_args[@]}" \
  --run-dir "$work/one-host" >"$work/one-host.log" 2>&1 || fail "the one-host run failed"
say "1 host x 4 ranks under mpiexec: $((SECONDS - t0)) s"
/usr/bin/python3 "$src/tests/cluster/check_runs.py" "$work" "$(hostname)" placement losses ||
  fail "the Slurm run differs from the one-host run"

# A node fails mid-step: a longer run, n2 killed once step 3 is logged.
t0=$SECONDS
job=$(submit node-fail "${sets[@]/train.max_steps=8/train.max_steps=1000}") || fail "sbatch failed"
while ! grep -qs '"step": *3[,}]' "$work/node-fail/metrics.jsonl"; do
  ((SECONDS - t0 < 300)) || fail "job $job did not reach step 3 in 300 s ($(field "$job" JobState))"
  [[ $(field "$job" JobState) =~ ^(PENDING|RUNNING|CONFIGURING)$ ]] ||
    fail "job $job ended $(field "$job" JobState) before step 3"
  sleep 1
done
cluster_kill_host n2
t_kill=$(date +%s.%N)
say "job $job at step 3: every process on n2 killed"
state=RUNNING
while [[ $state =~ ^(RUNNING|COMPLETING|CONFIGURING)$ ]]; do
  elapsed=$(/usr/bin/python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$t_kill" "$(date +%s.%N)")
  (($(date +%s) - ${t_kill%.*} < kill_s + 60)) || fail "job $job still $state $elapsed s after n2 died"
  state=$(field "$job" JobState)
  sleep 0.5
done
say "job $job left RUNNING $elapsed s after n2 died: now $state, reason $(field "$job" Reason), restarts $(field "$job" Restarts)"
n2_state=$(cluster_slurm sinfo -h -n n2 -o '%t %E')
say "n2 in Slurm: $n2_state"
say "the job's log after the kill:"
grep -E '^(srun|slurmstepd)|Peer host|received SIG' "$work/node-fail.log" | sort -u | sed 's/^/  | /'
((${elapsed%.*} < kill_s)) || fail "job $job took $elapsed s (over $kill_s s) to end after n2 died"
grep -q "srun: error: Node failure on n2" "$work/node-fail.log" || fail "srun did not name n2 as the failed node"
[[ $n2_state =~ ^down ]] || fail "Slurm did not set n2 down ($n2_state)"
# train.sbatch asks for --requeue: the job waits for two nodes again, to resume from its
# newest checkpoint.
restarts=$(field "$job" Restarts)
if [ "$state" != PENDING ] || ((restarts < 1)); then fail "job $job was not requeued ($state, restarts $restarts)"; fi

passed=1
say "ok ($((SECONDS - t_start)) s)"
