#include "skyssl/train/device_plan.hpp"

#include <fmt/format.h>
#include <ATen/Context.h>
#include <torch/cuda.h>

#include <cstdlib>

#include "skyssl/core/error.hpp"
#include "skyssl/dist/communicator.hpp"
#include "skyssl/dist/device.hpp"
#include "skyssl/train/options.hpp"

namespace skyssl::train {

device_plan plan_device(const train_options& o, const device_facts& f) {
  // LibTorch's CPU autocast has no fp16 (bf16 only); on CUDA fp16 runs with dynamic loss
  // scaling (moco/loss_scaler.hpp), since its range underflows small gradients.
  if (o.precision == "fp16" && o.device == "cpu")
    throw config_error(
        "train.precision = 'fp16' runs only with train.device = 'cuda' (LibTorch's CPU autocast "
        "has no fp16); set train.precision=bf16 (same range as fp32) or fp32");
  if (o.device == "cpu") return {};  // LibTorch's CPU autocast does bf16
  if (!f.torch_cuda) {
    const char* visible = std::getenv("CUDA_VISIBLE_DEVICES");
    throw config_error(
        f.visible_devices > 0
            ? fmt::format("train.device = 'cuda' but this LibTorch is a CPU-only build; build "
                          "skyssl against a CUDA LibTorch (docs/gpu.md) or set train.device=cpu")
            : fmt::format("train.device = 'cuda' but rank {} sees no CUDA device "
                          "(CUDA_VISIBLE_DEVICES='{}'); set train.device=cpu",
                          f.rank, visible ? visible : "<unset>"));
  }
  if (f.backend == "mpi" && f.world > 1)
    throw config_error(fmt::format(
        "train.device = 'cuda' with dist.backend = 'mpi' at {} ranks: the MPI backend moves host "
        "tensors only; set dist.backend=nccl (or auto)",
        f.world));
  const int n = f.visible_devices > 0 ? f.visible_devices : 1;
  device_plan p;
  p.cuda_index = f.local_rank % n;
  p.device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(p.cuda_index));
  return p;
}

void apply_device_settings(const train_options& o, const device_plan& p) {
  // Process-wide; only meaningful (and only read by LibTorch) for CUDA convolutions.
  const bool tune = p.device.is_cuda() && o.cudnn_benchmark;
  at::globalContext().setBenchmarkCuDNN(tune);
  // Without autotuning, also keep cuDNN to its deterministic algorithms (resume exactness).
  at::globalContext().setDeterministicCuDNN(!tune);
}

device_plan plan_device(const train_options& o, const dist::communicator& comm) {
  device_facts f;
  f.backend = comm.backend();
  f.world = comm.world();
  f.rank = comm.rank();
  f.local_rank = dist::local_rank();
  f.torch_cuda = torch::cuda::is_available();
  f.visible_devices = dist::visible_cuda_devices();
  return plan_device(o, f);
}

}  // namespace skyssl::train
