#!/usr/bin/env bash
# ctest -L cluster: the README example's config (configs/example.toml, 8 steps) trained on 2
# emulated hosts x 2 ranks (TCP between the hosts) against the same 4 ranks on one host
# (shared memory only):
#  - every rank reports its host, local rank and the node count at start;
#  - the per-step losses agree within the tolerance docs/distributed.md states (the test also
#    says whether they are bit-identical);
#  - the checkpoint the 2-host run wrote at step 4 resumes on one host and continues with the
#    same losses;
#  - with CLUSTER_TRAIN_MODES=1 (label cluster_long): moco.shuffle_bn = "local" with
#    data.cache = "memory" across the hosts gives the one-host losses too.
# Nothing is left half-written in the run directories.
# Env: SKYSSL_SOURCE_DIR, SKYSSL_BINARY_DIR (ctest sets both).
# shellcheck source-path=SCRIPTDIR disable=SC2034
set -euo pipefail
src=${SKYSSL_SOURCE_DIR:?} build=${SKYSSL_BINARY_DIR:?}
# Its own cluster: the tests may run at the same time as each other or a hand-made cluster.
CLUSTER_PREFIX=skyc-train CLUSTER_DIR=/run/skyssl-cluster-train
# shellcheck source=cluster-lib.sh
source "$src/tests/cluster/cluster-lib.sh"
# shellcheck source=../../scripts/mpi-env.sh
source "$src/scripts/mpi-env.sh"
export OMP_NUM_THREADS=1
work=$build/test-tmp/cluster-train${CLUSTER_TRAIN_MODES:+-modes}
train=$build/apps/train/skyssl-train
rm -rf "$work"
mkdir -p "$work"

trap cluster_down EXIT
cluster_up 2 2

mpiexec -n 2 "$build/apps/prep/skyssl-prep" synth --out "$work/survey.h5" --count 2048 --size 64 \
  --seed 1 >"$work/synth.log" 2>&1 || { cat "$work/synth.log"; exit 1; }
# The example's config, 8 steps, every step logged; the watchdog armed as in production.
# moco.bn_group=16: the example's group of 32 does not divide a rank's 16 images at 4 ranks.
sets=(--preset example --set "data.path=$work/survey.h5" --set moco.bn_group=16 --set train.max_steps=8
  --set train.log_every=1 --set train_eval.enabled=false --set checkpoint.every_steps=4
  --set checkpoint.keep=2 --set dist.timeout_s=120)

two_hosts() {  # run-dir, extra --set...
  local dir=$1
  shift
  # --map-by slot: ranks 0, 1 on n1 and 2, 3 on n2.
  cluster_exec n1 mpirun --hostfile "$CLUSTER_HOSTFILE" -n 4 --map-by slot \
    "$train" "${sets[@]}" "$@" --run-dir "$dir" >"$dir.log" 2>&1 || { cat "$dir.log"; return 1; }
}
one_host() {  # run-dir, extra arguments...
  local dir=$1
  shift
  mpiexec -n 4 "$train" "${sets[@]}" "$@" --run-dir "$dir" >"$dir.log" 2>&1 ||
    { cat "$dir.log"; return 1; }
}

tx_bytes() { ip -n "$(cluster_ns "$1")" -s -j link show eth0 | /usr/bin/python3 -c \
  'import json,sys; print(json.load(sys.stdin)[0]["stats64"]["tx"]["bytes"])'; }
t0=$SECONDS
before=$(tx_bytes n2)
two_hosts "$work/two-hosts"
sent=$(($(tx_bytes n2) - before))
echo "2 hosts x 2 ranks: $((SECONDS - t0)) s; n2 sent $((sent / 1000000)) MB over its link"
# The gradients (~2.8 MB for this narrow ResNet-18) cross the link every step: TCP was used.
((sent > 8 * 1000000)) || { echo "FAIL: n2 sent only $sent bytes: the hosts did not talk over TCP"; exit 1; }
t0=$SECONDS
one_host "$work/one-host"
echo "1 host x 4 ranks: $((SECONDS - t0)) s"
t0=$SECONDS
one_host "$work/resumed" --resume "$work/two-hosts/checkpoints/ckpt-4"
echo "resumed on 1 host from the 2-host checkpoint at step 4: $((SECONDS - t0)) s"
checks=(placement losses resume)
if [ -n "${CLUSTER_TRAIN_MODES:-}" ]; then
  t0=$SECONDS
  two_hosts "$work/two-hosts-local-memory" --set moco.shuffle_bn=local --set data.cache=memory
  echo "2 hosts, shuffle_bn=local, data.cache=memory: $((SECONDS - t0)) s"
  checks+=(modes)
fi

/usr/bin/python3 "$src/tests/cluster/check_runs.py" "$work" "$(hostname)" "${checks[@]}"
