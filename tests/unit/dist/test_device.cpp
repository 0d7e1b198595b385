// The device choice and the device-memory wrapper, on whatever this machine has (a CPU-only
// LibTorch here: the wrapper must still build CUDA tensors, which torch::from_blob cannot).
#include <torch/types.h>
#include <doctest/doctest.h>

#include <vector>

#include "skyssl/dist/device.hpp"

using namespace skyssl;

TEST_CASE("cuda_device_for spreads local ranks over the visible devices, -1 without one") {
  const int n = dist::visible_cuda_devices();
  CHECK(n >= 0);
  for (int local_rank = 0; local_rank < 9; ++local_rank) {
    const int d = dist::cuda_device_for(local_rank);
    if (n == 0)
      CHECK(d == -1);
    else
      CHECK(d == local_rank % n);
  }
}

TEST_CASE("wrap_device_memory makes a CUDA tensor over foreign memory and frees it once") {
  // Host memory stands in for a cudaMalloc pointer: only metadata and data_ptr() are touched.
  std::vector<float> storage(6, 0.0f);
  int freed = 0;
  void* seen = nullptr;
  {
    auto t = dist::wrap_device_memory(storage.data(), {2, 3}, torch::kFloat32, 1, [&](void* p) {
      ++freed;
      seen = p;
    });
    CHECK(t.is_cuda());
    CHECK(t.device().index() == 1);
    CHECK(t.sizes() == torch::IntArrayRef({2, 3}));
    CHECK((t.scalar_type() == torch::kFloat32));
    CHECK(t.data_ptr() == storage.data());
    CHECK(freed == 0);
  }
  CHECK(freed == 1);
  CHECK(seen == storage.data());
}
