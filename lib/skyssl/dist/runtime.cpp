#include "skyssl/dist/runtime.hpp"

#include <mpi.h>

#include "skyssl/core/log.hpp"
#include "skyssl/dist/device.hpp"

namespace skyssl::dist {

runtime::runtime(int* argc, char*** argv) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    // FUNNELED: only the main thread calls MPI. Prefetch threads do plain I/O (data.cache =
    // "memory" runs its all-to-all on the training thread too, see train/pipeline.hpp), and the
    // gradient bucketer starts MPI_Iallreduce from autograd hooks only when they run on the
    // thread that owns it (on CPU, LibTorch runs backward on the calling thread: checked by
    // tests/mpi/dist/test_bucketer.cpp); otherwise it defers the launch to finish().
    int granted = 0;
    MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &granted);
    owns_ = true;
  }
  // Errors come back as return codes so they surface as dist_error with a message.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &world_);
  local_rank_ = dist::local_rank();
  log::set_rank(rank_, world_);
}

runtime::~runtime() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (owns_ && !finalized) MPI_Finalize();
}

}  // namespace skyssl::dist
