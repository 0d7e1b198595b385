#include "skyssl/dist/device.hpp"

#include <ATen/ops/from_blob.h>
#include <mpi.h>
#include <torch/cuda.h>

#ifdef SKYSSL_HAVE_NCCL
#include "skyssl/dist/nccl_communicator.hpp"
#endif

namespace skyssl::dist {

namespace {

struct node_layout {
  int local_rank = 0, ranks_on_node = 1;
};

const node_layout& node() {
  // Computed once, by dist::runtime right after MPI_Init, and remembered: the node a process
  // runs on does not change.
  static bool known = false;
  static node_layout cached;
  if (known) return cached;
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (!initialized || finalized) return cached;
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm split;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &split);
  MPI_Comm_rank(split, &cached.local_rank);
  MPI_Comm_size(split, &cached.ranks_on_node);
  MPI_Comm_free(&split);
  known = true;
  return cached;
}

}  // namespace

int local_rank() { return node().local_rank; }
int ranks_on_node() { return node().ranks_on_node; }

int visible_cuda_devices() {
  if (torch::cuda::is_available()) return static_cast<int>(torch::cuda::device_count());
#ifdef SKYSSL_HAVE_NCCL
  return cuda_device_count();
#else
  return 0;
#endif
}

int cuda_device_for(int local_rank) {
  const int n = visible_cuda_devices();
  return n > 0 ? local_rank % n : -1;
}

torch::Tensor wrap_device_memory(void* data, const std::vector<std::int64_t>& shape,
                                 c10::ScalarType dtype, int device,
                                 std::function<void(void*)> deleter) {
  return at::for_blob(data, shape)
      .deleter(std::move(deleter))
      .options(torch::TensorOptions().dtype(dtype))
      .target_device(torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(device)))
      .make_tensor();
}

}  // namespace skyssl::dist
