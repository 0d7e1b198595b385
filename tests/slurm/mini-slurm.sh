# shellcheck shell=bash
# A private one-node Slurm for tests, sourced by the test scripts:
#   source mini-slurm.sh; mini_slurm_start DIR; ...; mini_slurm_stop
# or, for a test with a scratch directory TMP: mini_slurm_session TMP (Slurm in TMP/slurm).
# Everything lives under DIR: its own munge key and socket, slurm.conf, state, spool and
# logs, and two free TCP ports, so that two copies (or a site's real Slurm) never meet.
# Clients find it through SLURM_CONF, which mini_slurm_start exports.
# Every process started here, and every job process (they inherit the environment), carries
# SKYSSL_MINI_SLURM=DIR; mini_slurm_stop ends exactly those, by pid.

mini_slurm_need() {
  local missing=() b
  for b in munged slurmctld slurmd sbatch squeue scontrol scancel srun; do
    command -v "$b" >/dev/null || missing+=("$b")
  done
  if ((${#missing[@]})); then
    echo "mini-slurm: missing ${missing[*]}: apt-get install slurm-wlm munge (scripts/setup.sh does)" >&2
    return 1
  fi
}

# Two ports nobody listens on now: the kernel picks them; the tiny race until the daemons
# bind them is acceptable for a test.
mini_slurm_free_ports() {
  python3 -c 'import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*(x.getsockname()[1] for x in s))
[x.close() for x in s]'
}

# mini_slurm_conf_policy DIR: the slurm.conf lines every private Slurm of the tests shares (this
# one-node one and the two-node one of tests/cluster/cluster-slurm.sh): no cgroups, accounting or
# database; a job log in DIR/log; scheduling within a second; finished jobs kept visible.
mini_slurm_conf_policy() {
  local dir=$1
  cat <<CONF
# No cgroups in a container: track processes through /proc, bind nothing.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
# One line per finished job or requeue: what the tests read instead of sacct (no slurmdbd).
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/log/jobcomp.txt
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/builtin
SchedulerParameters=sched_interval=${MINI_SLURM_SCHED_INTERVAL:-1}
MailProg=/bin/true
ReturnToService=2
# Keep finished jobs visible to scontrol for a while; kill quickly after a time limit.
MinJobAge=600
KillWait=5
InactiveLimit=0
CONF
}

mini_slurm_start() {
  local dir=$1 host ncpu ports
  mini_slurm_need || return 1
  host=$(hostname -s)
  ncpu=$(getconf _NPROCESSORS_ONLN)  # not nproc: it obeys OMP_NUM_THREADS, which tests set to 1
  read -r -a ports < <(mini_slurm_free_ports)
  mkdir -p "$dir"/{munge,state,spool,log,tmp}
  chmod 700 "$dir/munge"
  export SKYSSL_MINI_SLURM=$dir
  export SLURM_CONF=$dir/slurm.conf
  MINI_SLURM_DIR=$dir
  MINI_SLURM_PIDS=()

  head -c 1024 /dev/urandom >"$dir/munge/munge.key"
  chmod 400 "$dir/munge/munge.key"
  # --force: munged refuses some root-owned or /tmp-based layouts without it.
  munged --foreground --force --socket="$dir/munge/munge.socket" --key-file="$dir/munge/munge.key" \
    --pid-file="$dir/munge/munged.pid" --log-file="$dir/log/munged.log" \
    --seed-file="$dir/munge/munged.seed" >>"$dir/log/munged.out" 2>&1 &
  MINI_SLURM_PIDS+=($!)

  : >"$dir/plugstack.conf"  # not the system's /etc/slurm/plugstack.conf
  cat >"$SLURM_CONF" <<CONF
ClusterName=skyssltest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=${ports[0]}
SlurmdPort=${ports[1]}
SlurmUser=$(id -un)
SlurmdUser=root
AuthType=auth/munge
# cred_expire is also how long a requeued job waits before it may start again (default 120 s);
# sched_interval: a job whose begin time has passed starts within a second, not a minute.
AuthInfo=socket=$dir/munge/munge.socket,cred_expire=${MINI_SLURM_CRED_EXPIRE:-5}
CredType=cred/munge
PlugStackConfig=$dir/plugstack.conf
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
# PMIx puts per-step directories named by uid and job id under TmpFS: two instances, both at
# job 1, would collide in /tmp. Random first job ids keep logs apart too.
TmpFS=$dir/tmp
FirstJobId=$((RANDOM * 16 + 1000))
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
# debug2 logs each time-limit check ("Testing job time limits"), whose phase tests may need.
SlurmctldDebug=${MINI_SLURM_DEBUG:-debug2}
SlurmdDebug=${MINI_SLURM_DEBUG:-info}
MpiDefault=none
NodeName=$host NodeAddr=127.0.0.1 CPUs=$ncpu State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
  mini_slurm_conf_policy "$dir" >>"$SLURM_CONF"

  slurmctld -D -c -f "$SLURM_CONF" >>"$dir/log/slurmctld.out" 2>&1 &
  MINI_SLURM_PIDS+=($!)
  slurmd -D -c -f "$SLURM_CONF" -N "$host" >>"$dir/log/slurmd.out" 2>&1 &
  MINI_SLURM_PIDS+=($!)

  # Ready when the node accepts work.
  local i state
  for ((i = 0; i < 60; i++)); do
    state=$(sinfo -h -n "$host" -o %t 2>/dev/null || true)
    case $state in idle* | mix* | alloc*) return 0 ;; esac
    sleep 0.5
  done
  echo "mini-slurm: node did not come up (state '${state:-none}'); logs:" >&2
  tail -n 20 "$dir"/log/* >&2
  return 1
}

# Epoch milliseconds of slurmctld's latest time-limit check (empty if none yet). It checks every
# ~30 s (PERIODIC_TIMEOUT, fixed at compile time) from its start: that is when --signal
# warnings go out and time limits are enforced.
mini_slurm_last_check_ms() {
  local t
  t=$(sed -n 's/^\[\([0-9T:.-]*\)\] debug2: Testing job time limits.*/\1/p' "$MINI_SLURM_DIR/log/slurmctld.log" | tail -n 1)
  [ -z "$t" ] || date -d "${t/T/ }" +%s%3N
}

# Pids of every process carrying our marker (daemons, slurmstepd, job processes).
mini_slurm_marked_pids() {
  local p
  for p in /proc/[0-9]*; do
    [ "${p#/proc/}" = "$$" ] && continue
    grep -qzx "SKYSSL_MINI_SLURM=$MINI_SLURM_DIR" "$p/environ" 2>/dev/null && echo "${p#/proc/}"
  done
}

mini_slurm_stop() {
  [ -n "${MINI_SLURM_DIR:-}" ] || return 0
  local pid i jobs=() pids=()
  # Cancel the jobs and give their slurmstepds time to finish: once slurmd is gone they would
  # wait for it forever.
  mapfile -t jobs < <(squeue -h -o %A 2>/dev/null)
  if ((${#jobs[@]})); then
    scancel "${jobs[@]}" 2>/dev/null || true
    for ((i = 0; i < 30; i++)); do
      [ -z "$(squeue -h -o %A 2>/dev/null)" ] && break
      sleep 0.5
    done
  fi
  for pid in "${MINI_SLURM_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for ((i = 0; i < 20; i++)); do
    # slurmstepd overwrites its environment with its title, so it is found by its job id.
    mapfile -t pids < <(mini_slurm_marked_pids; for j in "${jobs[@]}"; do pgrep -f "^slurmstepd: \[$j\." || true; done)
    ((${#pids[@]})) || break
    # First politely, then not: a hung rank must not outlive the test.
    if ((i < 10)); then kill "${pids[@]}" 2>/dev/null || true; else kill -9 "${pids[@]}" 2>/dev/null || true; fi
    sleep 0.3
  done
  wait 2>/dev/null || true
  MINI_SLURM_DIR=
}

# mini_slurm_session TMP: a private Slurm in TMP/slurm for a test, and a watcher that takes the
# daemons and jobs down (and removes TMP unless SKYSSL_SLURM_TEST_KEEP=1) if the test's shell is
# killed outright and no trap runs. The watcher's pid goes to mini_slurm_watcher: the test's own
# cleanup kills it first.
mini_slurm_session() {
  local tmp=$1 test_shell=$$
  mini_slurm_start "$tmp/slurm" || return 1
  (
    trap - EXIT INT TERM HUP
    while kill -0 "$test_shell" 2>/dev/null; do sleep 1; done
    mini_slurm_stop
    [ "${SKYSSL_SLURM_TEST_KEEP:-0}" = 1 ] || rm -rf "$tmp"
  ) &
  # shellcheck disable=SC2034  # read by the sourcing test's cleanup
  mini_slurm_watcher=$!
}

# mini_slurm_synth PREP OUT: the survey the Slurm tests train on (512 galaxies of 64x64 pixels,
# seed 1, written by 2 ranks); prints skyssl-prep's output and fails if it fails.
mini_slurm_synth() {
  local prep=$1 out=$2
  mpiexec -n 2 "$prep" synth --out "$out" --count 512 --size 64 --seed 1 >"$out.log" 2>&1 ||
    { cat "$out.log"; return 1; }
}
