#pragma once
// The [train] and [train_eval] sections as plain structs.
#include <cstdint>
#include <optional>
#include <string>

namespace skyssl {
class config;
}

namespace skyssl::train {

struct train_options {
  std::int64_t epochs = 100;
  std::int64_t global_batch = 256;  // images per step over all ranks
  double base_lr = 0.03;            // peak learning rate at lr_reference_batch images per step
  std::int64_t lr_reference_batch = 256;  // peak lr = base_lr * global_batch / this (linear rule)
  double momentum = 0.9;
  double weight_decay = 1e-4;
  double warmup_epochs = 5;  // linear warm-up, then cosine decay to 0
  std::uint64_t seed = 0;
  std::int64_t max_steps = 0;      // stop after this many steps in total (0: all epochs)
  std::int64_t log_every = 10;     // steps between progress lines / metrics records
  std::int64_t threads = 0;        // LibTorch intra-op threads per rank (0: LibTorch default)
  std::int64_t prefetch = 2;       // batches prepared ahead by the pipeline thread (1-8)
  std::string device = "cpu";      // cpu | cuda
  std::string precision = "fp32";  // fp32 | bf16 | fp16 (autocast; device_plan.hpp)
  // fp16 only: dynamic loss scaling (moco/loss_scaler.hpp). Initial scale (a power of two)
  // and the good steps in a row after which it doubles.
  double loss_scale = 65536.0;
  std::int64_t loss_scale_growth_interval = 2000;
  // Encoders and their inputs in channels-last (NHWC) memory format; unset: on for CUDA
  // (tensor cores want NHWC), off for the CPU. See channels_last_on().
  std::optional<bool> channels_last;
  // cuDNN autotuning (CUDA only): benchmarks convolution algorithms at the first step of each
  // shape and keeps the fastest. Faster, but the chosen algorithm may differ between runs, so
  // a resumed run is no longer bit-identical to an uninterrupted one (docs/checkpoints.md).
  bool cudnn_benchmark = true;
  // Safetensors file with torchvision ResNet names (skyssl-export's output, or PyTorch
  // weights converted to it): both encoders start from it instead of a random init.
  std::string init_weights;

  bool channels_last_on() const { return channels_last.value_or(device == "cuda"); }

  double peak_lr() const {
    return base_lr * static_cast<double>(global_batch) / static_cast<double>(lr_reference_batch);
  }
};

// [train_eval]: skyssl-train's end-of-training check (view retrieval, embeddings.pt). Not
// skyssl-eval's [eval] section.
struct training_eval_options {
  bool enabled = true;       // run the check at the end of training
  std::int64_t count = 256;  // galaxies embedded / used for view retrieval
};

train_options train_options_from(const skyssl::config& cfg, const std::string& section);
// Also refuses the keys the check had before it got its own section (train_eval.enabled, train_eval.count),
// naming the new ones.
training_eval_options training_eval_options_from(const skyssl::config& cfg,
                                                 const std::string& section);

// The learning-rate schedule's inputs (saved in checkpoints): linear warm-up over
// warmup_steps to `peak`, then cosine decay to 0 at total_steps.
struct lr_schedule {
  double peak = 0;
  std::int64_t warmup_steps = 0;
  std::int64_t total_steps = 0;
  double at(std::int64_t step) const;
};
// total = epochs * steps_per_epoch, or train.max_steps when smaller; max_steps compresses the
// warm-up by the same factor as the cosine, so a short run has the schedule's shape.
lr_schedule make_lr_schedule(const train_options& o, std::int64_t steps_per_epoch);

// Cosine schedule with linear warm-up over `warmup_steps`, for step in [0, total_steps).
double learning_rate(double peak, std::int64_t step, std::int64_t warmup_steps,
                     std::int64_t total_steps);

// Per-rank batch: global / world, or config_error naming train.global_batch.
std::int64_t local_batch_size(std::int64_t global_batch, int world);

}  // namespace skyssl::train
