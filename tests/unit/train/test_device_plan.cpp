// train.device / train.precision / dist.backend checked together: every refusal names the keys
// and a value that works; the accepted CUDA plan has an explicit device index. The machine
// facts are injected, so the CUDA branches are exercised on a CPU-only build.
#include <torch/types.h>
#include <doctest/doctest.h>

#include <string>

#include "skyssl/core/error.hpp"
#include "skyssl/train/device_plan.hpp"
#include "skyssl/train/options.hpp"

using namespace skyssl;

namespace {
train::train_options opts(const std::string& device, const std::string& precision = "fp32") {
  train::train_options o;
  o.device = device;
  o.precision = precision;
  return o;
}
train::device_facts gpu_node(const std::string& backend, int world, int local_rank) {
  train::device_facts f;
  f.backend = backend;
  f.world = world;
  f.rank = local_rank;
  f.local_rank = local_rank;
  f.torch_cuda = true;
  f.visible_devices = 4;
  return f;
}
std::string refusal(const train::train_options& o, const train::device_facts& f) {
  try {
    train::plan_device(o, f);
  } catch (const config_error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("bf16 is accepted on both devices (CPU autocast does bf16)") {
  CHECK(train::plan_device(opts("cpu", "bf16"), train::device_facts{"mpi", 2, 0, 0, false, 0})
            .device.is_cpu());
  CHECK(train::plan_device(opts("cuda", "bf16"), gpu_node("nccl", 2, 1)).cuda_index == 1);
}

TEST_CASE("fp16 is accepted on CUDA (with loss scaling)") {
  CHECK(train::plan_device(opts("cuda", "fp16"), gpu_node("nccl", 2, 1)).cuda_index == 1);
}

TEST_CASE("cpu in fp32 is the plain host plan") {
  const auto p = train::plan_device(opts("cpu"), train::device_facts{"mpi", 2, 1, 1, false, 0});
  CHECK(p.device.is_cpu());
  CHECK(p.cuda_index == -1);
}

TEST_CASE("cuda plans pick local_rank % devices with an explicit index") {
  for (int lr = 0; lr < 6; ++lr) {
    const auto p = train::plan_device(opts("cuda"), gpu_node("nccl", 8, lr));
    CHECK(p.device.is_cuda());
    CHECK(p.device.index() == lr % 4);
    CHECK(p.cuda_index == lr % 4);
  }
  // One rank needs no communicator at all: the MPI backend is fine there.
  CHECK(train::plan_device(opts("cuda"), gpu_node("mpi", 1, 0)).cuda_index == 0);
  CHECK(train::plan_device(opts("cuda"), gpu_node("local", 1, 0)).cuda_index == 0);
}

TEST_CASE("impossible combinations are refused up front, naming keys and a fix") {
  SUBCASE("cuda on a CPU-only LibTorch beside a visible device") {
    auto f = gpu_node("nccl", 2, 0);
    f.torch_cuda = false;
    const auto m = refusal(opts("cuda"), f);
    CHECK(m.find("train.device = 'cuda'") != std::string::npos);
    CHECK(m.find("CPU-only build") != std::string::npos);
    CHECK(m.find("train.device=cpu") != std::string::npos);
  }
  SUBCASE("cuda without any device") {
    const auto m = refusal(opts("cuda"), train::device_facts{"mpi", 2, 1, 1, false, 0});
    CHECK(m.find("rank 1 sees no CUDA device") != std::string::npos);
    CHECK(m.find("CUDA_VISIBLE_DEVICES") != std::string::npos);
  }
  SUBCASE("cuda with the MPI backend at several ranks") {
    const auto m = refusal(opts("cuda"), gpu_node("mpi", 4, 0));
    CHECK(m.find("dist.backend = 'mpi' at 4 ranks") != std::string::npos);
    CHECK(m.find("dist.backend=nccl") != std::string::npos);
  }
  SUBCASE("fp16 on the CPU (LibTorch's CPU autocast has no fp16)") {
    const auto m = refusal(opts("cpu", "fp16"), train::device_facts{"mpi", 1, 0, 0, false, 0});
    CHECK(m.find("train.precision = 'fp16' runs only with train.device = 'cuda'") !=
          std::string::npos);
    CHECK(m.find("train.precision=bf16") != std::string::npos);
  }
}
