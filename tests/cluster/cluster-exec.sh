#!/usr/bin/env bash
# cluster-exec.sh CLUSTER_DIR PREFIX HOST COMMAND...: runs COMMAND "on" HOST of the emulated
# cluster (tests/cluster/cluster-lib.sh): inside HOST's network namespace, in a new UTS
# namespace named HOST and a private mount namespace where CLUSTER_DIR/etc-hosts is bound over
# /etc/hosts. TMPDIR is the host's own directory, so OpenMPI's session files of different
# hosts never meet (they do in /dev/shm, as on a real cluster they would not: the segments'
# names carry the host name). The cluster's OpenMPI settings (CLUSTER_DIR/mpi-env) apply.
set -euo pipefail
dir=$1 prefix=$2 host=$3
shift 3
if ! grep -qx "$host" "$dir/hosts.list" 2>/dev/null; then
  echo "cluster: no host '$host' in the cluster at $dir (hosts: $(tr '\n' ' ' <"$dir/hosts.list" 2>/dev/null))" >&2
  exit 2
fi
export TMPDIR=$dir/tmp/$host
# shellcheck source=/dev/null
source "$dir/mpi-env"
# shellcheck disable=SC2016
exec ip netns exec "$prefix-$host" unshare --uts --mount --propagation private -- \
  bash -c 'hostname "$1" && mount --bind "$2" /etc/hosts && shift 2 && exec "$@"' \
  cluster-exec "$host" "$dir/etc-hosts" "$@"
