#pragma once
// Where a rank trains: train.device, train.precision and dist.backend checked together before
// anything touches a device, so an impossible combination stops every rank at start with one
// message naming the keys (instead of failing inside the first collective or kernel).
#include <torch/types.h>

#include <string>

namespace skyssl::dist {
class communicator;
}

namespace skyssl::train {

struct train_options;

struct device_plan {
  torch::Device device{torch::kCPU};  // with an explicit index for CUDA
  int cuda_index = -1;                // -1 on the CPU
};

// What the check needs to know about the machine and the job (plain values: unit-testable on
// a CPU-only build).
struct device_facts {
  std::string backend;  // resolved: mpi | nccl | local
  int world = 1;
  int rank = 0;
  int local_rank = 0;
  bool torch_cuda = false;  // LibTorch is a CUDA build and sees a device
  int visible_devices = 0;  // dist::visible_cuda_devices()
};

device_plan plan_device(const train_options& o, const device_facts& f);

// Process-wide LibTorch settings for the plan: cuDNN autotuning on CUDA when
// train.cudnn_benchmark; otherwise no autotuning and cuDNN's deterministic algorithms only.
// Call once, before the first step.
void apply_device_settings(const train_options& o, const device_plan& p);

// The same with this process's facts (LibTorch, the CUDA runtime, the node-local rank).
device_plan plan_device(const train_options& o, const dist::communicator& comm);

}  // namespace skyssl::train
