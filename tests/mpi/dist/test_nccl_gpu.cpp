// The NCCL backend on a real GPU (one rank per device). Not part of ctest on machines without
// a device: see CMakeLists.txt. LibTorch may be CPU-only, so device buffers come from
// cudaMalloc and are wrapped with dist::wrap_device_memory; only data_ptr() and metadata are used.
// torch before doctest: c10's logging defines CHECK, doctest must define it last.
#include <torch/types.h>
#include <doctest/doctest.h>
#include <cuda_runtime_api.h>

#include "skyssl/core/error.hpp"
#include "skyssl/dist/communicator.hpp"
#include "skyssl/dist/consistency.hpp"
#include "skyssl/dist/device.hpp"
#include "skyssl/dist/nccl_communicator.hpp"
#include "skyssl/dist/make_communicator.hpp"

using namespace skyssl;

namespace {

// A device copy of a CPU tensor, freed with the returned tensor.
torch::Tensor to_device(const torch::Tensor& cpu, int device) {
  torch::Tensor c = cpu.contiguous();
  void* p = nullptr;
  REQUIRE(cudaSetDevice(device) == cudaSuccess);
  REQUIRE(cudaMalloc(&p, std::max<std::size_t>(c.nbytes(), 1)) == cudaSuccess);
  REQUIRE(cudaMemcpy(p, c.data_ptr(), c.nbytes(), cudaMemcpyHostToDevice) == cudaSuccess);
  return dist::wrap_device_memory(p, c.sizes().vec(), c.scalar_type(), device,
                                  [](void* q) { cudaFree(q); });
}

torch::Tensor to_host(const torch::Tensor& dev) {
  torch::Tensor out = torch::empty(dev.sizes(), torch::TensorOptions().dtype(dev.dtype()));
  REQUIRE(cudaMemcpy(out.data_ptr(), dev.data_ptr(), out.nbytes(), cudaMemcpyDeviceToHost) ==
          cudaSuccess);
  return out;
}

}  // namespace

TEST_CASE("a CUDA device is visible (this program only means something on a GPU node)") {
  REQUIRE_MESSAGE(dist::cuda_device_count() > 0,
                  "no CUDA device: skyssl_dist_nccl_gpu_test cannot test anything here");
}

TEST_CASE("nccl collectives on device and host tensors") {
  REQUIRE(dist::cuda_device_count() > 0);
  auto comm = dist::make_communicator("nccl");
  REQUIRE(comm->backend() == "nccl");
  const int R = comm->world(), me = comm->rank();
  int device = 0;
  REQUIRE(cudaGetDevice(&device) == cudaSuccess);

  for (auto dt : {torch::kFloat32, torch::kFloat64, torch::kInt64, torch::kInt32}) {
    CAPTURE(std::string(c10::toString(dt)));
    torch::Tensor host = (torch::arange(1000) % 13 + me).to(dt).reshape({10, 100});
    torch::Tensor expect = torch::zeros({10, 100}, torch::kInt64);
    for (int r = 0; r < R; ++r) expect += torch::arange(1000).reshape({10, 100}) % 13 + r;

    // Device tensors.
    torch::Tensor d = to_device(host, device);
    comm->all_reduce_sum(d);
    CHECK(torch::equal(to_host(d).to(torch::kInt64), expect));
    torch::Tensor d2 = to_device(host, device);
    auto op = comm->start_all_reduce_sum(d2);
    op->wait();
    CHECK(torch::equal(to_host(d2).to(torch::kInt64), expect));
    torch::Tensor g = comm->all_gather(to_device(host, device));
    CHECK(g.is_cuda());
    CHECK(g.size(0) == 10 * R);
    CHECK(torch::equal(to_host(g).narrow(0, 10 * me, 10), host));
    torch::Tensor b = to_device(host, device);
    comm->broadcast(b, 0);
    CHECK(torch::equal(to_host(b), (torch::arange(1000) % 13).to(dt).reshape({10, 100})));

    // Host tensors are staged through the device.
    torch::Tensor h = host.clone();
    comm->all_reduce_sum(h);
    CHECK(torch::equal(h.to(torch::kInt64), expect));
    torch::Tensor hg = comm->all_gather(host);
    CHECK(hg.size(0) == 10 * R);
    CHECK(torch::equal(hg.narrow(0, 10 * me, 10), host));
  }
  comm->barrier();
  // The consistency check works through NCCL (host digests, staged).
  CHECK_NOTHROW(dist::check_consistent(*comm, {torch::ones({5})}, "weights", 0));
  // Watchdog path: polled waits with a deadline.
  comm->set_timeout(30);
  torch::Tensor w = to_device(torch::ones({1 << 20}), device);
  comm->all_reduce_sum(w);
  CHECK(to_host(w).sum().item<double>() == doctest::Approx(double(R) * (1 << 20)));
}
