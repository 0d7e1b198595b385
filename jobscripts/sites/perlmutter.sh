# shellcheck shell=bash source-path=SCRIPTDIR disable=SC2034
# Perlmutter GPU nodes (NERSC): 4x A100 and 4 Slingshot NICs per node, Cray MPICH, NCCL.
# Source it on a login node before building and before sbatch: it loads the modules and sets
# sbatch's defaults through SBATCH_* variables (a flag on the sbatch command line still wins).
# The job scripts source it again inside the job for the run-time environment and launcher.
#   SKYSSL_ACCOUNT    NERSC project with GPU hours, e.g. m1234_g (-> SBATCH_ACCOUNT, required)
#   SKYSSL_QOS        regular | debug | preempt | ... (-> SBATCH_QOS, default regular)
#   SKYSSL_CONSTRAINT node type (-> SBATCH_CONSTRAINT, default gpu; gpu&hbm80g for 80 GB A100s)
#   SKYSSL_MODULES    modules to load (default: PrgEnv-gnu cudatoolkit cray-hdf5-parallel craype-accel-nvidia80)

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
  module load ${SKYSSL_MODULES:-PrgEnv-gnu cudatoolkit cray-hdf5-parallel craype-accel-nvidia80}
else
  echo "perlmutter.sh: no 'module' command; not loading modules" >&2
fi
[ -z "$skyssl_u" ] || set -u

export MPICH_GPU_SUPPORT_ENABLED=1
# NCCL over Slingshot through the libfabric plugin; with this NET name NCCL fails loudly
# instead of silently falling back to TCP sockets.
export NCCL_NET="AWS Libfabric"
export NCCL_NET_GDR_LEVEL=PHB
export NCCL_CROSS_NIC=1
export FI_CXI_DISABLE_HOST_REGISTER=1
export FI_MR_CACHE_MONITOR=userfaultfd
export FI_CXI_DEFAULT_CQ_SIZE=131072
export HDF5_USE_FILE_LOCKING=FALSE  # Lustre scratch: HDF5's flock fails or serialises readers

skyssl_ranks_per_node=4
skyssl_batch_per_rank=256  # the published run: 256 images per GPU
skyssl_site_sets=(train.device=cuda)

# One rank per GPU, 16 cores (32 hardware threads) each. --gpu-bind=closest or --gpus-per-task
# would hide the other GPUs from each rank and break CUDA IPC, so every rank sees all four and
# picks one by CUDA_VISIBLE_DEVICES: GPU 3 is the one closest to the first cores (local rank 0).
skyssl_set_launcher() {
  # shellcheck disable=SC2016  # expanded by the rank's shell, not here
  skyssl_launcher=(srun --nodes="$1" --ntasks-per-node=4 --cpus-per-task=32 --cpu-bind=cores
    --gpus-per-node=4 --gpu-bind=none --kill-on-bad-exit=1
    bash -c 'export CUDA_VISIBLE_DEVICES=$((3 - SLURM_LOCALID)); exec "$@"' skyssl-rank)
}
