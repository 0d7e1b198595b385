# shellcheck shell=bash
# A small cluster on one machine: N hosts n1..nN, each a network namespace on a private bridge
# (10.99.0.K/24), every command on it run in its own UTS namespace (hostname nK) and mount
# namespace (a test /etc/hosts bound over the real one). Only the network and the hostname are
# separate: /tmp, /dev/shm, processes and the CPUs are shared. Sourced by scripts/cluster.sh and
# the tests under tests/cluster/; needs root, iproute2 (ip netns, tc) and util-linux (unshare).
#
#   source cluster-lib.sh
#   cluster_up 2 2          # 2 hosts, 2 MPI slots each; exports CLUSTER_HOSTFILE
#   cluster_exec n1 mpirun --hostfile "$CLUSTER_DIR/hostfile" -n 4 prog
#   cluster_cut n2          # the link of n2 goes down
#   cluster_down            # kills what runs on the hosts, removes namespaces and files
#
# Everything created is named from CLUSTER_PREFIX (default skyc): namespaces skyc-sw (the
# switch: the bridge and the hosts' far ends) and skyc-n1..; nothing outside them is touched.
# One cluster at a time per prefix (a lock under /run); the state lives in CLUSTER_DIR.

CLUSTER_PREFIX=${CLUSTER_PREFIX:-skyc}
CLUSTER_DIR=${CLUSTER_DIR:-/run/skyssl-cluster-$CLUSTER_PREFIX}
CLUSTER_SUBNET=10.99.0

cluster_lib_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

cluster_need() {
  local missing=() b
  for b in ip tc unshare nsenter flock; do command -v "$b" >/dev/null || missing+=("$b"); done
  if ((${#missing[@]})); then
    echo "cluster: missing ${missing[*]}: apt-get install iproute2 util-linux (scripts/setup.sh does)" >&2
    return 1
  fi
  if [ "$(id -u)" != 0 ]; then
    echo "cluster: network namespaces need root (run as root, or inside a root container)" >&2
    return 1
  fi
}

cluster_ns() { echo "$CLUSTER_PREFIX-$1"; }

# The hosts of the cluster that is up (n1 n2 ...), from its state directory.
cluster_hosts() {
  [ -f "$CLUSTER_DIR/hosts.list" ] && cat "$CLUSTER_DIR/hosts.list"
}

# cluster_up N [SLOTS]: brings up N hosts (2 to 200) with SLOTS MPI slots each (default 2).
cluster_up() {
  local n=${1:-2} slots=${2:-2} i host ns
  cluster_need || return 1
  if ! [[ $n =~ ^[0-9]+$ ]] || ((n < 1 || n > 200)); then
    echo "cluster: host count must be 1..200, got '$n'" >&2
    return 1
  fi
  mkdir -p "$(dirname "$CLUSTER_DIR")"
  # The lock is held by this shell (fd 9) until cluster_down or exit.
  exec 9>"$CLUSTER_DIR.lock"
  if ! flock -w "${CLUSTER_LOCK_WAIT_S:-600}" 9; then
    echo "cluster: another cluster '$CLUSTER_PREFIX' holds $CLUSTER_DIR.lock" >&2
    return 1
  fi
  if ip netns list | grep -q "^$(cluster_ns sw)\b"; then
    echo "cluster: leftovers of cluster '$CLUSTER_PREFIX' found; removing them first" >&2
    cluster_down_unlocked
  fi
  rm -rf "$CLUSTER_DIR"
  mkdir -p "$CLUSTER_DIR/tmp"
  : >"$CLUSTER_DIR/hosts.list"
  printf '127.0.0.1 localhost\n::1 localhost\n' >"$CLUSTER_DIR/etc-hosts"
  : >"$CLUSTER_DIR/hostfile"

  ip netns add "$(cluster_ns sw)" || return 1
  ip -n "$(cluster_ns sw)" link set lo up
  ip -n "$(cluster_ns sw)" link add br0 type bridge
  ip -n "$(cluster_ns sw)" link set br0 up
  for ((i = 1; i <= n; i++)); do
    host=n$i
    ns=$(cluster_ns "$host")
    echo "$host" >>"$CLUSTER_DIR/hosts.list"
    ip netns add "$ns" || return 1
    ip -n "$ns" link set lo up
    # The pair is created inside the switch, then one end moves to the host as eth0.
    ip -n "$(cluster_ns sw)" link add "$host" type veth peer name eth0 netns "$ns" || return 1
    ip -n "$(cluster_ns sw)" link set "$host" master br0 up
    ip -n "$ns" addr add "$CLUSTER_SUBNET.$i/24" dev eth0
    ip -n "$ns" link set eth0 up
    # Give up on an unacknowledged TCP send after ~6 s instead of Linux's ~15 min (retries2 =
    # 15): once a peer is cut off, mpirun notices the lost daemon when it next sends to it.
    ip netns exec "$ns" sysctl -qw net.ipv4.tcp_retries2="${CLUSTER_TCP_RETRIES2:-4}"
    printf '%s.%d %s\n' "$CLUSTER_SUBNET" "$i" "$host" >>"$CLUSTER_DIR/etc-hosts"
    printf '%s slots=%d\n' "$host" "$slots" >>"$CLUSTER_DIR/hostfile"
    mkdir -p "$CLUSTER_DIR/tmp/$host"
  done
  # OpenMPI's launcher enters the target host instead of ssh-ing to it. Like ssh, the agent
  # stays on the launching host and says which host it lost when the remote side dies.
  cat >"$CLUSTER_DIR/rsh-agent" <<AGENT
#!/bin/bash
# plm_rsh_agent for the emulated cluster: "rsh-agent [options] HOST COMMAND..." runs COMMAND
# (one shell string, as ssh would) on HOST.
while [ "\${1#-}" != "\$1" ]; do shift; done
host=\$1; shift
status=0
bash "$cluster_lib_dir/cluster-exec.sh" "$CLUSTER_DIR" "$CLUSTER_PREFIX" "\$host" sh -c "\$*" || status=\$?
if ((status > 128)); then
  echo "rsh-agent: connection to \$host lost: its processes were killed (signal \$((status - 128)))" >&2
  exit 255
fi
exit "\$status"
AGENT
  chmod 755 "$CLUSTER_DIR/rsh-agent"
  cluster_mpi_env
}

# The OpenMPI settings for jobs on the cluster, in CLUSTER_DIR/mpi-env: every command run on a
# host (cluster_exec, the launcher's agent) starts with them; the caller's environment is left
# alone, so mpirun outside the cluster works as before. Exports CLUSTER_HOSTFILE.
cluster_mpi_env() {
  cat >"$CLUSTER_DIR/mpi-env" <<ENV
export OMPI_MCA_plm_rsh_agent=$CLUSTER_DIR/rsh-agent
# TCP between hosts, shared memory within one; only the cluster's own subnet.
export OMPI_MCA_btl=self,vader,tcp
export OMPI_MCA_btl_tcp_if_include=$CLUSTER_SUBNET.0/24
export OMPI_MCA_oob_tcp_if_include=$CLUSTER_SUBNET.0/24
ENV
  export CLUSTER_HOSTFILE=$CLUSTER_DIR/hostfile
}

# cluster_exec HOST COMMAND...: runs COMMAND on HOST (its network, hostname and /etc/hosts).
cluster_exec() {
  bash "$cluster_lib_dir/cluster-exec.sh" "$CLUSTER_DIR" "$CLUSTER_PREFIX" "$@"
}

# cluster_cut HOST / cluster_mend HOST: the host's switch port goes down / up (a cable pulled:
# a network split). The host keeps its address; its packets go nowhere, as on a real split.
cluster_cut() { ip -n "$(cluster_ns sw)" link set "$1" down; }
cluster_mend() { ip -n "$(cluster_ns sw)" link set "$1" up; }

# cluster_shape RATE [DELAY]: every host's outgoing traffic limited to RATE (tc syntax, e.g.
# 100mbit) with DELAY added (e.g. 1ms) through netem; where the kernel has no netem (sch_netem),
# a token bucket (tbf) limits the rate and no delay is added (said on stderr, and DELAY must
# then be 0ms). "cluster_shape off" removes it. Prints the qdisc used ("netem" or "tbf").
cluster_shape() {
  local rate=$1 delay=${2:-0ms} host kind=netem
  for host in $(cluster_hosts); do
    if [ "$rate" = off ]; then
      tc -n "$(cluster_ns "$host")" qdisc del dev eth0 root 2>/dev/null || true
      continue
    fi
    # A queue long enough for the bandwidth-delay product: netem's default of 1000 packets
    # drops bursts of a few MB, and TCP retransmissions would be measured instead of the link.
    if [ $kind = netem ] && ! tc -n "$(cluster_ns "$host")" qdisc replace dev eth0 root netem \
      delay "$delay" rate "$rate" limit 100000 2>/dev/null; then
      kind=tbf
      if [ "$delay" != 0ms ] && [ "$delay" != 0 ]; then
        echo "cluster: this kernel has no netem qdisc (sch_netem): cannot add a delay of $delay" >&2
        return 1
      fi
      echo "cluster: no netem qdisc in this kernel; limiting the rate with tbf, no delay added" >&2
    fi
    if [ $kind = tbf ]; then
      tc -n "$(cluster_ns "$host")" qdisc replace dev eth0 root tbf rate "$rate" burst 128kb \
        latency 500ms || return 1
    fi
  done
  [ "$rate" = off ] || echo "$kind"
}

# cluster_kill_host HOST: SIGKILL to every process running on HOST (a node failure).
cluster_kill_host() {
  local pids
  pids=$(ip netns pids "$(cluster_ns "$1")" 2>/dev/null)
  # shellcheck disable=SC2086
  [ -z "$pids" ] || kill -9 $pids 2>/dev/null || true
}

cluster_down_unlocked() {
  local ns host
  # Processes first (a namespace with live processes outlives `ip netns del`).
  for ns in $(ip netns list | awk '{print $1}' | grep "^$CLUSTER_PREFIX-"); do
    host=${ns#"$CLUSTER_PREFIX"-}
    cluster_kill_host "$host"
  done
  sleep 0.2
  for ns in $(ip netns list | awk '{print $1}' | grep "^$CLUSTER_PREFIX-"); do
    ip netns del "$ns" 2>/dev/null || true
  done
  # OpenMPI's shared-memory segments carry the host name: only our hosts' names are removed.
  if [ -f "$CLUSTER_DIR/hosts.list" ]; then
    while read -r host; do
      rm -f /dev/shm/vader_segment."$host".* 2>/dev/null || true
    done <"$CLUSTER_DIR/hosts.list"
  fi
  rm -rf "$CLUSTER_DIR"
}

# Removes everything cluster_up created, whatever state it is in; safe to call twice. The lock
# file goes too (a third user of the same prefix racing two others could then take a fresh
# lock: each test uses its own prefix).
cluster_down() {
  cluster_down_unlocked
  rm -f "$CLUSTER_DIR.lock"
  exec 9>&- 2>/dev/null || true
}
