#pragma once
// The one place a rank's CUDA device is chosen. LibTorch, Kokkos' initialisation, the NCCL
// communicator and every thread that launches device work use this index, so the ranks of a
// node spread over its devices the same way in every library (docs/gpu.md).
#include <torch/types.h>

#include <functional>
#include <vector>

namespace skyssl::dist {

// This process's rank among the ranks of its node (MPI_COMM_TYPE_SHARED), and how many ranks
// that node runs: 0 and 1 before MPI_Init or without MPI. Both come from one node split; the
// first call of either after MPI_Init (dist::runtime's) is collective, later ones are not.
int local_rank();
int ranks_on_node();

// CUDA devices this process can see: LibTorch's count when it is a CUDA build, else the CUDA
// runtime's (a CPU-only LibTorch beside an NCCL build); 0 without a driver or device.
int visible_cuda_devices();

// local_rank % visible_cuda_devices(), or -1 when no device is visible. On Perlmutter one rank
// per GPU with CUDA_VISIBLE_DEVICES unset gives rank r of a node device r.
int cuda_device_for(int local_rank);

// A tensor over device memory that something other than LibTorch allocated (cudaMalloc in the
// NCCL backend and its GPU test), freed by `deleter`. Works on a CPU-only LibTorch too, which
// torch::from_blob(..., kCUDA) does not: it asks ATen's (absent) CUDA hooks for the pointer's
// device. Only data_ptr() and the metadata of such a tensor may be used there.
torch::Tensor wrap_device_memory(void* data, const std::vector<std::int64_t>& shape,
                                 c10::ScalarType dtype, int device,
                                 std::function<void(void*)> deleter);

}  // namespace skyssl::dist
