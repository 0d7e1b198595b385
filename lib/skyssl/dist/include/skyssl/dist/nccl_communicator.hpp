#pragma once
// The NCCL backend (compiled only when SKYSSL_HAVE_NCCL). CUDA tensors go straight to NCCL on
// the communicator's own stream; CPU tensors (checksums, scalars) are staged through a device
// buffer so callers need not care which backend runs.
#include "skyssl/dist/communicator.hpp"

namespace skyssl::dist {

// Uses CUDA device `device` (dist::cuda_device_for(local rank) when -1), creates the stream
// and a pinned staging buffer, agrees with every rank that all of that worked (so a rank
// without a device fails the job on every rank with its reason instead of stranding the others
// in the bootstrap), then bootstraps NCCL over MPI_COMM_WORLD (ncclGetUniqueId on rank 0,
// MPI_Bcast, ncclCommInitRank). Needs a live dist::runtime.
std::unique_ptr<communicator> make_nccl_communicator(int device = -1);

// Number of CUDA devices the runtime API can see (0 without a driver or device).
int cuda_device_count();

}  // namespace skyssl::dist
