#include "skyssl/dist/device.hpp"

#include <ATen/ops/from_blob.h>
#include <mpi.h>
#include <torch/cuda.h>

#ifdef SKYSSL_HAVE_NCCL
#include "skyssl/dist/nccl_communicator.hpp"
#endif

namespace skyssl::dist {

int local_rank() {
  // A collective the first time (MPI_Comm_split_type): computed once, by dist::runtime right
  // after MPI_Init, and remembered; the node a process runs on does not change.
  static int cached = -1;
  if (cached >= 0) return cached;
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (!initialized || finalized) return 0;
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm node;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node);
  MPI_Comm_rank(node, &cached);
  MPI_Comm_free(&node);
  return cached;
}

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
