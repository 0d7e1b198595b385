# shellcheck shell=bash source-path=SCRIPTDIR disable=SC2034
# Perlmutter GPU nodes (NERSC): 4x A100 and 4 Slingshot NICs per node, Cray MPICH, NCCL.
# Source it on a login node before building and before sbatch: it loads the modules and sets
# sbatch's defaults through SBATCH_* variables (a flag on the sbatch command line still wins).
# The job scripts source it again inside the job for the run-time environment and launcher.
#   SKYSSL_ACCOUNT    NERSC project with GPU hours, e.g. m1234_g (-> SBATCH_ACCOUNT, required)
#   SKYSSL_QOS        regular | debug | preempt | ... (-> SBATCH_QOS, default regular)
#   SKYSSL_CONSTRAINT node type (-> SBATCH_CONSTRAINT, default gpu; gpu&hbm80g for 80 GB A100s)
#   SKYSSL_MODULES    modules to load (default: PrgEnv-gnu cudatoolkit cray-hdf5-parallel
#                     craype-accel-nvidia80 nccl; NERSC's nccl module carries the Slingshot plugin)
#   SKYSSL_CONTAINER  the container route: a command each rank runs in, e.g.
#                     "shifter --module=gpu,nccl-plugin" with #SBATCH --image=<NERSC's PyTorch
#                     image> (docs/running-on-perlmutter.md); default: none, the modules above
#   SKYSSL_NCCL_NET_PLUGIN  path of the plugin (libnccl-net*.so) when it is not on LD_LIBRARY_PATH
#                     (a hand-built aws-ofi-nccl; in a container its nccl-plugin module puts it there)

export SBATCH_QOS=${SBATCH_QOS:-${SKYSSL_QOS:-regular}}
export SBATCH_CONSTRAINT=${SBATCH_CONSTRAINT:-${SKYSSL_CONSTRAINT:-gpu}}
export SBATCH_GPUS_PER_NODE=${SBATCH_GPUS_PER_NODE:-4}
if [ -n "${SKYSSL_ACCOUNT:-}" ]; then export SBATCH_ACCOUNT=${SBATCH_ACCOUNT:-$SKYSSL_ACCOUNT}; fi
[ -n "${SBATCH_ACCOUNT:-}" ] || echo "perlmutter.sh: set SKYSSL_ACCOUNT (e.g. m1234_g) or pass -A to sbatch" >&2

# Lmod's functions trip over set -u; restore the caller's setting afterwards.
skyssl_u=${-//[^u]/}
set +u
if command -v module >/dev/null; then
  # shellcheck disable=SC2086  # a list of module names
  module load ${SKYSSL_MODULES:-PrgEnv-gnu cudatoolkit cray-hdf5-parallel craype-accel-nvidia80 nccl}
else
  echo "perlmutter.sh: no 'module' command; not loading modules" >&2
fi
[ -z "$skyssl_u" ] || set -u

export MPICH_GPU_SUPPORT_ENABLED=1
# Slingshot tuning for NCCL's libfabric (CXI) plugin, as HPE's and NERSC's guides give them.
export NCCL_NET_GDR_LEVEL=PHB
export NCCL_CROSS_NIC=1
export NCCL_SOCKET_IFNAME=hsn  # bootstrap over the Slingshot NICs (hsn0..hsn3), a prefix match
export FI_CXI_DISABLE_HOST_REGISTER=1
export FI_MR_CACHE_MONITOR=userfaultfd
export FI_CXI_DEFAULT_CQ_SIZE=131072
export HDF5_USE_FILE_LOCKING=FALSE  # Lustre scratch: HDF5's flock fails or serialises readers

skyssl_ranks_per_node=4
skyssl_batch_per_rank=256  # the published run: 256 images per GPU
skyssl_site_sets=(train.device=cuda)

# The Slingshot plugin NCCL loads: libnccl-net.so on LD_LIBRARY_PATH (NERSC's nccl module, a
# container's nccl-plugin module), else SKYSSL_NCCL_NET_PLUGIN. Prints its path or nothing.
skyssl_nccl_net_plugin() {
  local d f dirs
  if [ -n "${SKYSSL_NCCL_NET_PLUGIN:-}" ]; then
    [ -f "$SKYSSL_NCCL_NET_PLUGIN" ] && echo "$SKYSSL_NCCL_NET_PLUGIN"
    return 0
  fi
  IFS=: read -r -a dirs <<<"${LD_LIBRARY_PATH:-}"
  for d in "${dirs[@]}"; do
    for f in "$d"/libnccl-net.so "$d"/libnccl-net-ofi.so; do
      [ -f "$f" ] && { echo "$f"; return 0; }
    done
  done
  return 0
}

# Between nodes NCCL must use the plugin: NCCL_NET names it, so a missing plugin is a loud
# start-up error instead of a silent fall-back to TCP sockets. On one node the GPUs talk over
# NVLink and the plugin is not needed: NCCL_NET stays unset there, so a node without the
# module still trains.
skyssl_nccl_net_setup() {
  local nodes=$1 plugin
  plugin=$(skyssl_nccl_net_plugin)
  if ((nodes > 1)); then
    if [ -z "$plugin" ] && [ -n "${SKYSSL_NCCL_NET_PLUGIN:-}" ]; then
      echo "perlmutter.sh: $nodes nodes need NCCL's Slingshot plugin; SKYSSL_NCCL_NET_PLUGIN=$SKYSSL_NCCL_NET_PLUGIN" \
        "is not a file: point it at libnccl-net.so, or unset it and module load nccl" >&2
      return 1
    elif [ -z "$plugin" ]; then
      echo "perlmutter.sh: $nodes nodes need NCCL's Slingshot plugin (libnccl-net.so), not found on" \
        "LD_LIBRARY_PATH: module load nccl (or set SKYSSL_NCCL_NET_PLUGIN to the plugin's path)" >&2
      return 1
    fi
    export NCCL_NET="AWS Libfabric"
  else
    unset NCCL_NET
  fi
  if [ -n "$plugin" ] && [ -n "${SKYSSL_NCCL_NET_PLUGIN:-}" ]; then
    export LD_LIBRARY_PATH=${plugin%/*}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  fi
  return 0
}

# One rank per GPU, 16 cores (32 hardware threads) each. --gpu-bind=closest or --gpus-per-task
# would hide the other GPUs from each rank and break CUDA IPC, so every rank sees all four and
# picks one by CUDA_VISIBLE_DEVICES: GPU 3 is the one closest to the first cores (local rank 0).
# No --kill-on-bad-exit: a checkpointed stop (85) on one rank must not get the others killed
# (137/143) while they still tear down. An error ends every rank anyway (the trainer calls
# MPI_Abort); for a rank killed outright (OOM, node failure) --wait ends the survivors
# SKYSSL_STEP_WAIT seconds (default 120) after the first rank exits instead of leaving them
# blocked in a collective until the time limit.
skyssl_set_launcher() {
  local container=()
  read -r -a container <<<"${SKYSSL_CONTAINER:-}"
  # In a container its nccl-plugin module brings the plugin: the host's library path says nothing.
  if ((${#container[@]} == 0)); then
    skyssl_nccl_net_setup "$1" || return 1
  elif (($1 > 1)); then
    export NCCL_NET="AWS Libfabric"
  fi
  # shellcheck disable=SC2016  # expanded by the rank's shell, not here
  skyssl_launcher=(srun --nodes="$1" --ntasks-per-node=4 --cpus-per-task=32 --cpu-bind=cores
    --gpus-per-node=4 --gpu-bind=none --kill-on-bad-exit=0 --wait="${SKYSSL_STEP_WAIT:-120}" "${container[@]}"
    bash -c 'export CUDA_VISIBLE_DEVICES=$((3 - SLURM_LOCALID)); exec "$@"' skyssl-rank)
}

# What the smoke test (smoke.sbatch) expects of a node here.
skyssl_expect_gpus_per_node=4
skyssl_expect_nccl=1
skyssl_expect_kokkos_arch=AMPERE80  # A100: compute capability 8.0
