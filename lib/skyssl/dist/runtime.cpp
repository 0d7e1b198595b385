#include <mpi.h>

#include <cstdlib>

#include "skyssl/core/log.hpp"
#include "skyssl/dist/communicator.hpp"
#include "skyssl/dist/mpi_communicator.hpp"
#include "skyssl/core/error.hpp"

namespace skyssl::dist {

runtime::runtime(int* argc, char*** argv) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    int provided = 0;
    // FUNNELED: only the main thread calls MPI; prefetch threads do plain I/O.
    MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    owns_ = true;
  }
  // Errors come back as return codes so they surface as dist_error with a message.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &world_);
  MPI_Comm local;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local);
  MPI_Comm_rank(local, &local_rank_);
  MPI_Comm_free(&local);
  log::set_rank(rank_, world_);
}

runtime::~runtime() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (owns_ && !finalized) MPI_Finalize();
}

void communicator::all_reduce_mean(torch::Tensor& t) {
  all_reduce_sum(t);
  if (world() > 1) t.div_(world());
}

#ifndef SKYSSL_HAVE_NCCL
bool nccl_available() { return false; }
#endif

std::unique_ptr<communicator> make_communicator(const std::string& backend) {
  if (backend == "mpi" || (backend == "auto" && !nccl_available())) return make_mpi_communicator();
  if (backend == "nccl" && !nccl_available())
    throw config_error("dist.backend = 'nccl' but this build has no NCCL backend");
  if (backend == "auto" || backend == "nccl") return make_mpi_communicator();  // TODO(dist): NCCL
  throw config_error("dist.backend must be 'mpi', 'nccl' or 'auto', got '" + backend + "'");
}

}  // namespace skyssl::dist
