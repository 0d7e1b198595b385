# shellcheck shell=bash source-path=SCRIPTDIR disable=SC2034
# CPUs only: a workstation, a CI runner, the private Slurm of tests/slurm, or the two-node one
# of tests/cluster (several nodes need srun).
#   SKYSSL_LAUNCHER  srun | mpirun (default: srun inside a Slurm job, else mpirun)
#   SKYSSL_RANKS     ranks in all (default: the job's SLURM_NTASKS, else the number of CPUs)
#   SKYSSL_THREADS   LibTorch threads per rank (default 1: ranks x threads <= cores)

# OpenMPI as root in containers, oversubscription on small machines, no HDF5 file locking.
# shellcheck source=../../scripts/mpi-env.sh
source "$SKYSSL_ROOT/scripts/mpi-env.sh"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

SKYSSL_LAUNCHER=${SKYSSL_LAUNCHER:-$([ -n "${SLURM_JOB_ID:-}" ] && echo srun || echo mpirun)}
# getconf, not nproc: nproc obeys OMP_NUM_THREADS, set to 1 just above.
SKYSSL_RANKS=${SKYSSL_RANKS:-${SLURM_NTASKS:-$(getconf _NPROCESSORS_ONLN)}}
skyssl_ranks_per_node=$((SKYSSL_RANKS / ${SLURM_JOB_NUM_NODES:-1}))
skyssl_site_sets=(train.device=cpu "train.threads=${SKYSSL_THREADS:-1}")

# Both launchers pass SIGUSR1 on to every rank, which is all the job scripts need. srun: no
# --kill-on-bad-exit, so that a checkpointed stop (85) of one rank does not get a slower one
# killed (137/143) while it still tears down; --wait ends the others SKYSSL_STEP_WAIT seconds
# (default 120) after the first exits, for a rank killed outright (an error aborts them all).
skyssl_set_launcher() {
  local nodes=${1:-1}
  case $SKYSSL_LAUNCHER in
    srun) skyssl_launcher=(srun --mpi=pmix --nodes="$nodes" --ntasks="$SKYSSL_RANKS" --kill-on-bad-exit=0
      --wait="${SKYSSL_STEP_WAIT:-120}") ;;
    mpirun)
      [ "$nodes" = 1 ] || { echo "local.sh: mpirun runs on one node here; $nodes nodes need srun" >&2; return 1; }
      skyssl_launcher=(mpirun -n "$SKYSSL_RANKS") ;;
    *) echo "local.sh: SKYSSL_LAUNCHER must be srun or mpirun, not '$SKYSSL_LAUNCHER'" >&2; return 1 ;;
  esac
}

# What the smoke test (smoke.sbatch) expects of a node here: no GPU, no NCCL, a host Kokkos.
skyssl_expect_gpus_per_node=0
skyssl_expect_nccl=0
skyssl_expect_kokkos_arch=""
