#pragma once
// The NCCL backend (compiled only when SKYSSL_HAVE_NCCL). CUDA tensors go straight to NCCL on
// the communicator's own stream; CPU tensors (checksums, scalars) are staged through a device
// buffer so callers need not care which backend runs.
#include "skyssl/dist/communicator.hpp"

namespace skyssl::dist {

// Selects the CUDA device local_rank % device_count, creates the stream, and bootstraps the
// NCCL communicator over MPI_COMM_WORLD (ncclGetUniqueId on rank 0, MPI_Bcast,
// ncclCommInitRank). Needs a live dist::runtime.
std::unique_ptr<communicator> make_nccl_communicator();

// Number of CUDA devices the runtime API can see (0 without a driver or device).
int cuda_device_count();

}  // namespace skyssl::dist
