#!/usr/bin/env bash
# ctest -L slurm: jobscripts/sites/perlmutter.sh's NCCL network set-up, without Perlmutter: on one
# node NCCL_NET stays unset (NVLink, no plugin needed); on two it is set to the Slingshot plugin
# only when libnccl-net.so is on LD_LIBRARY_PATH (or SKYSSL_NCCL_NET_PLUGIN), else the launcher
# refuses with a message naming the module; the bootstrap uses the hsn NICs; no
# --kill-on-bad-exit but a --wait; a container command goes between srun and the rank.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
src=${SKYSSL_SOURCE_DIR:?set by ctest}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/skyssl-site-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
mkdir -p "$tmp/plugin" "$tmp/elsewhere"
touch "$tmp/plugin/libnccl-net.so" "$tmp/elsewhere/libnccl-net-custom.so"

export SKYSSL_ROOT=$src SKYSSL_ACCOUNT=m0000_g
# shellcheck source=../../jobscripts/sites/perlmutter.sh
source "$src/jobscripts/sites/perlmutter.sh" 2>"$tmp/source.err"  # no module command here: a warning
[ "$NCCL_SOCKET_IFNAME" = hsn ] || fail "NCCL_SOCKET_IFNAME=$NCCL_SOCKET_IFNAME, expected hsn"
[ "$SBATCH_ACCOUNT" = m0000_g ] || fail "SBATCH_ACCOUNT not taken from SKYSSL_ACCOUNT"

export LD_LIBRARY_PATH=/nonexistent
skyssl_set_launcher 1 || fail "one node without the plugin was refused"
[ -z "${NCCL_NET:-}" ] || fail "NCCL_NET=$NCCL_NET on one node, expected unset"
# shellcheck disable=SC2154  # set by skyssl_set_launcher
[[ " ${skyssl_launcher[*]} " != *" --kill-on-bad-exit=1 "* ]] || fail "the launcher kills ranks on a bad exit"
if skyssl_set_launcher 2 2>"$tmp/refused.err"; then fail "two nodes without the plugin were accepted"; fi
grep -q 'module load nccl' "$tmp/refused.err" || fail "the refusal does not name the module: $(cat "$tmp/refused.err")"

LD_LIBRARY_PATH=$tmp/plugin skyssl_set_launcher 2 || fail "two nodes with the plugin on LD_LIBRARY_PATH were refused"
[ "${NCCL_NET:-}" = "AWS Libfabric" ] || fail "NCCL_NET=${NCCL_NET:-unset} on two nodes, expected AWS Libfabric"
skyssl_set_launcher 1 || fail "one node refused after two"
[ -z "${NCCL_NET:-}" ] || fail "NCCL_NET left set when going back to one node"

SKYSSL_NCCL_NET_PLUGIN=$tmp/elsewhere/libnccl-net-custom.so skyssl_set_launcher 2 ||
  fail "SKYSSL_NCCL_NET_PLUGIN was not accepted"
[[ :$LD_LIBRARY_PATH: == *":$tmp/elsewhere:"* ]] || fail "SKYSSL_NCCL_NET_PLUGIN's directory not put on LD_LIBRARY_PATH"

SKYSSL_CONTAINER="shifter --module=gpu,nccl-plugin" skyssl_set_launcher 2 || fail "the container route was refused"
line=" ${skyssl_launcher[*]} "
[[ $line == *" --kill-on-bad-exit=0 --wait=120 shifter --module=gpu,nccl-plugin bash -c "* ]] ||
  fail "the container command is not between srun's options and the rank: $line"
echo "PASS: perlmutter.sh's NCCL network set-up"
