#!/usr/bin/env bash
# A cluster of N hosts on this machine (network namespaces n1..nN on a bridge, 10.99.0.0/24),
# for trying multi-node behaviour without a cluster. Root only. See docs/distributed.md.
#
#   scripts/cluster.sh up [N] [SLOTS]     N hosts (default 2) with SLOTS MPI slots (default 2)
#   scripts/cluster.sh exec HOST CMD...   CMD on HOST (its network, hostname, /etc/hosts);
#                                         mpirun there gets the cluster's OpenMPI settings
#   scripts/cluster.sh cut|mend HOST      HOST's link down / up
#   scripts/cluster.sh shape RATE DELAY   every host's link limited (e.g. 100mbit 1ms); "shape off"
#   scripts/cluster.sh kill HOST          SIGKILL every process on HOST
#   scripts/cluster.sh down               remove everything (also after a failure)
#   scripts/cluster.sh run [N] [SLOTS] -- CMD...
#                                         up, CMD on n1, down (even when CMD fails); CMD's status
#
# Example: 2 hosts x 2 ranks of the trainer
#   scripts/cluster.sh run 2 2 -- mpirun --hostfile /run/skyssl-cluster-skyc/hostfile -n 4 \
#     build/apps/train/skyssl-train --preset example --run-dir /tmp/run --set train.epochs=1 \
#     --set moco.bn_group=16
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../tests/cluster/cluster-lib.sh
source "$root/tests/cluster/cluster-lib.sh"
# shellcheck source=mpi-env.sh
source "$root/scripts/mpi-env.sh"

usage() {
  sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

cmd=${1:-}
shift || true
case $cmd in
  up) cluster_up "${1:-2}" "${2:-2}"
      echo "cluster: $(cluster_hosts | tr '\n' ' ')up; hostfile $CLUSTER_HOSTFILE" ;;
  down) cluster_down ;;
  exec) (($# >= 2)) || usage; cluster_exec "$@" ;;
  cut) (($# == 1)) || usage; cluster_cut "$1" ;;
  mend) (($# == 1)) || usage; cluster_mend "$1" ;;
  shape) (($# >= 1)) || usage; cluster_shape "$@" ;;
  kill) (($# == 1)) || usage; cluster_kill_host "$1" ;;
  run)
    n=2 slots=2
    if (($#)) && [ "$1" != -- ]; then n=$1; shift; fi
    if (($#)) && [ "$1" != -- ]; then slots=$1; shift; fi
    [ "${1:-}" = -- ] || usage
    shift
    (($#)) || usage
    trap cluster_down EXIT
    cluster_up "$n" "$slots"
    status=0
    cluster_exec n1 "$@" || status=$?
    exit "$status" ;;
  *) usage ;;
esac
