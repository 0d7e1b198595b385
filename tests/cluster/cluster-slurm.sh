# shellcheck shell=bash source-path=SCRIPTDIR
# A private Slurm across the emulated hosts of cluster-lib.sh: munged and slurmctld on n1, one
# slurmd per host (NodeName=nK NodeAddr=10.99.0.K), each inside its host's namespaces. Sourced
# after cluster-lib.sh, once cluster_up has run:
#   cluster_slurm_start DIR        # everything under DIR; exports SLURM_CONF
#   cluster_slurm sbatch ...       # a Slurm client, run on n1 (the only place it can reach)
#   cluster_slurm_stop             # jobs cancelled, daemons and job processes ended
# then cluster_down removes whatever is left in the namespaces.
# The hosts share the filesystem, so munge's unix socket serves all of them; every node-local
# path of slurm.conf (spool, TmpFS, slurmd's pid and log files) is DIR/node, which each slurmd
# sees bound to its own DIR/nodes/nK. Ports are Slurm's defaults, inside the namespaces only.
# Processes carry SKYSSL_MINI_SLURM=DIR, as with mini-slurm.sh (whose helpers it reuses).

# shellcheck source=../slurm/mini-slurm.sh
source "$(dirname "${BASH_SOURCE[0]}")/../slurm/mini-slurm.sh"

cluster_slurm() { cluster_exec n1 "$@"; }

# cluster_slurm_start DIR: the Slurm of every host of the cluster that is up; 2 CPUs a node
# (CLUSTER_SLURM_CPUS), nodes declared down CLUSTER_SLURMD_TIMEOUT s (default 10) after their
# slurmd falls silent.
cluster_slurm_start() {
  local dir=$1 hosts host i state
  mini_slurm_need || return 1
  mapfile -t hosts < <(cluster_hosts)
  mkdir -p "$dir"/{munge,state,log,node}
  for host in "${hosts[@]}"; do mkdir -p "$dir/nodes/$host"/{spool,tmp}; done
  # munged refuses a socket directory (or parent) that others may write to or not traverse.
  chmod 755 "$dir" "$dir/munge"
  export SKYSSL_MINI_SLURM=$dir SLURM_CONF=$dir/slurm.conf
  MINI_SLURM_DIR=$dir
  MINI_SLURM_PIDS=()

  head -c 1024 /dev/urandom >"$dir/munge/munge.key"
  chmod 400 "$dir/munge/munge.key"
  cluster_exec n1 munged --foreground --force --socket="$dir/munge/munge.socket" \
    --key-file="$dir/munge/munge.key" --pid-file="$dir/munge/munged.pid" \
    --log-file="$dir/log/munged.log" --seed-file="$dir/munge/munged.seed" >>"$dir/log/munged.out" 2>&1 &
  MINI_SLURM_PIDS+=($!)

  : >"$dir/plugstack.conf"
  # ip netns exec mounts a sysfs of the host's own, without /sys/fs/cgroup: slurmd's detection
  # of the cgroup version fails there even with proctrack/linuxproc. Named, the plugin loads
  # and is never used.
  printf 'CgroupPlugin=cgroup/v1\nCgroupAutomount=no\n' >"$dir/cgroup.conf"
  {
    cat <<CONF
ClusterName=skysslcluster
SlurmctldHost=n1($CLUSTER_SUBNET.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket,cred_expire=5
CredType=cred/munge
PlugStackConfig=$dir/plugstack.conf
StateSaveLocation=$dir/state
SlurmctldPidFile=$dir/slurmctld.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmctldDebug=info
# Node-local: each slurmd sees its own directory here.
SlurmdSpoolDir=$dir/node/spool
TmpFS=$dir/node/tmp
SlurmdPidFile=$dir/node/slurmd.pid
SlurmdLogFile=$dir/node/slurmd.log
SlurmdDebug=info
FirstJobId=$((RANDOM * 16 + 1000))
# Debian's OpenMPI has a PMIx client, no PMI-2 one.
MpiDefault=pmix
# A step whose task exits non-zero is ended on every node (srun --kill-on-bad-exit overrides).
KillOnBadExit=1
SlurmdTimeout=${CLUSTER_SLURMD_TIMEOUT:-10}
CONF
    mini_slurm_conf_policy "$dir"
    for ((i = 1; i <= ${#hosts[@]}; i++)); do
      echo "NodeName=n$i NodeAddr=$CLUSTER_SUBNET.$i CPUs=${CLUSTER_SLURM_CPUS:-2} State=UNKNOWN"
    done
    echo "PartitionName=cluster Nodes=n[1-${#hosts[@]}] Default=YES MaxTime=INFINITE State=UP"
  } >"$SLURM_CONF"

  cluster_exec n1 slurmctld -D -c -f "$SLURM_CONF" >>"$dir/log/slurmctld.out" 2>&1 &
  MINI_SLURM_PIDS+=($!)
  for host in "${hosts[@]}"; do
    # shellcheck disable=SC2016
    cluster_exec "$host" bash -c 'mount --bind "$1" "$2" &&
      shift 2 && exec "$@"' slurmd \
      "$dir/nodes/$host" "$dir/node" slurmd -D -c -f "$SLURM_CONF" -N "$host" \
      >>"$dir/log/slurmd-$host.out" 2>&1 &
    MINI_SLURM_PIDS+=($!)
  done

  for ((i = 0; i < 60; i++)); do
    state=$(cluster_slurm sinfo -h -N -o '%N=%t' 2>/dev/null | sort | tr '\n' ' ' || true)
    [[ $state =~ ^(n[0-9]+=idle\ )+$ ]] && (($(wc -w <<<"$state") == ${#hosts[@]})) && return 0
    sleep 0.5
  done
  echo "cluster-slurm: nodes did not come up (${state:-no answer}); logs:" >&2
  tail -n 20 "$dir"/log/* "$dir"/nodes/*/slurmd.log >&2
  return 1
}

# Ends the jobs, the daemons and every job process; cluster_down then removes the rest.
cluster_slurm_stop() {
  [ -n "${MINI_SLURM_DIR:-}" ] || return 0
  local i pids=() jobs=()
  mapfile -t jobs < <(cluster_slurm squeue -h -o %A 2>/dev/null)
  if ((${#jobs[@]})); then
    cluster_slurm scancel "${jobs[@]}" 2>/dev/null || true
    for ((i = 0; i < 20; i++)); do
      [ -z "$(cluster_slurm squeue -h -o %A 2>/dev/null)" ] && break
      sleep 0.5
    done
  fi
  for ((i = 0; i < 20; i++)); do
    mapfile -t pids < <(mini_slurm_marked_pids)
    ((${#pids[@]})) || break
    if ((i < 10)); then kill "${pids[@]}" 2>/dev/null || true; else kill -9 "${pids[@]}" 2>/dev/null || true; fi
    sleep 0.3
  done
  wait "${MINI_SLURM_PIDS[@]}" 2>/dev/null || true
  MINI_SLURM_DIR=
}
