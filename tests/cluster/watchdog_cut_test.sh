#!/usr/bin/env bash
# ctest -L cluster: a host fails under collectives, without the trainer. 2 emulated hosts x 2
# ranks of tests/unit/dist/fail_helper loop over all-reduces (dist.timeout_s = 3).
#   cut (default): n2's switch port goes down: the ranks on n1 must name ranks 2 and 3 on n2 as
#     the silent peers and the job must end within the deadline + the probe window + the
#     launcher's give-up time (~6 s with the hosts' tcp_retries2 = 4) + slack: 20 s.
#   kill: every process on n2 is SIGKILLed: the job ends within 15 s, naming n2.
#   nojoin: n2's switch port is down before the start: the job ends within 30 s
#     (orte_startup_timeout = 20 bounds mpirun's wait), naming n2, and no rank starts its loop.
# Env: SKYSSL_SOURCE_DIR, SKYSSL_BINARY_DIR (ctest sets both).
# shellcheck source-path=SCRIPTDIR disable=SC2034
set -euo pipefail
mode=${1:-cut}
src=${SKYSSL_SOURCE_DIR:?} build=${SKYSSL_BINARY_DIR:?}
CLUSTER_PREFIX=skyc-wd-$mode CLUSTER_DIR=/run/skyssl-cluster-wd-$mode
# shellcheck source=cluster-lib.sh
source "$src/tests/cluster/cluster-lib.sh"
# shellcheck source=../../scripts/mpi-env.sh
source "$src/scripts/mpi-env.sh"
export OMP_NUM_THREADS=1
helper=$build/tests/unit/dist/skyssl_dist_fail_helper
work=$build/test-tmp/cluster-watchdog-$mode
rm -rf "$work"
mkdir -p "$work"
trap cluster_down EXIT
cluster_up 2 2

[ "$mode" = nojoin ] && cluster_cut n2
start=$SECONDS
cluster_exec n1 mpirun --hostfile "$CLUSTER_HOSTFILE" -n 4 --map-by slot \
  --mca orte_startup_timeout 20 "$helper" \
  --timeout 3 --steps 100000 --step-ms 50 >"$work/job.log" 2>&1 &
job=$!
if [ "$mode" != nojoin ]; then
for _ in $(seq 1200); do  # start-up on a busy machine: up to 120 s
  grep -q "every rank is in the loop" "$work/job.log" && break
  kill -0 "$job" 2>/dev/null || break
  sleep 0.1
done
grep -q "every rank is in the loop" "$work/job.log" ||
  { cat "$work/job.log"; echo "FAIL: the ranks never reached their loop"; exit 1; }
sleep 1
start=$SECONDS
case $mode in
  cut) cluster_cut n2 ;;
  kill) cluster_kill_host n2 ;;
  *) echo "usage: watchdog_cut_test.sh [cut|kill|nojoin]"; exit 2 ;;
esac
fi
for _ in $(seq 600); do
  kill -0 "$job" 2>/dev/null || break
  sleep 0.1
done
took=$((SECONDS - start))
if kill -0 "$job" 2>/dev/null; then
  cat "$work/job.log"
  echo "FAIL: the job still ran $took s after the failure ($mode)"
  exit 1
fi
rc=0
wait "$job" || rc=$?
echo "watchdog_cut_test $mode: the job ended with exit $rc about $took s after the failure"
grep -E "dist watchdog|connection to" "$work/job.log" | head -2 || true
fail() { cat "$work/job.log"; echo "FAIL: $*"; exit 1; }
((rc != 0)) || fail "exit 0"
if [ "$mode" = cut ]; then
  ((took <= 20)) || fail "ended $took s after the cut, more than 20 s"
  grep -q "silent peer(s), no answer within 1.5 s: rank 2 on n2, rank 3 on n2" "$work/job.log" ||
    fail "the silent peers (ranks 2 and 3 on n2) are not named"
  grep -q "dist.timeout_s = 3 s on rank [01] (n1)" "$work/job.log" ||
    fail "the message does not say which rank and host waited"
elif [ "$mode" = kill ]; then
  ((took <= 15)) || fail "ended $took s after the kill, more than 15 s"
  grep -q "connection to n2 lost: its processes were killed (signal 9)" "$work/job.log" ||
    fail "no message names n2"
else
  ((took <= 30)) || fail "ended $took s after the start, more than 30 s"
  grep -q "n2" "$work/job.log" || fail "no message names n2"
  if grep -q "every rank is in the loop" "$work/job.log"; then fail "the ranks ran without n2"; fi
fi
echo "watchdog_cut_test $mode: ok"
