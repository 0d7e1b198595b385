#pragma once
// The input pipeline: a thread that reads and augments batch s+1 while the trainer computes
// step s, handing batches over through a bounded queue (depth train.prefetch, 1-2). Memory is
// bounded by that depth; an error on the thread is rethrown by next().
#include <torch/types.h>

#include <cstdint>
#include <memory>

#include "skyssl/core/bounded_queue.hpp"

#include "skyssl/moco/options.hpp"

namespace skyssl::train {

// Two augmented views of this rank's slice of one global batch.
struct view_batch {
  std::int64_t epoch = 0;
  std::int64_t step = 0;  // within the epoch
  torch::Tensor ids;      // (B) int64 global sample ids
  // view2 is this rank's own view 2, or under moco.shuffle_bn = local the view-2 images of its
  // slice of the permuted global batch (moco::key_positions), which is what the engine encodes.
  torch::Tensor view1, view2;
  std::int64_t nonfinite_pixels = 0;  // NaN/Inf input pixels set to 0 (data.nonfinite = "zero")
  double read_s = 0;                  // seconds the source waited for the raw samples of this batch
  double augment_s = 0;               // seconds it spent augmenting them
  // The device path's staging slot of this batch's inputs (staging_pool): given back to the
  // reader, after the step that used it has finished, when the batch is dropped. Empty on CPU.
  std::shared_ptr<void> hold;
};

// Where batches come from. Implementations: archive_source (lib/data + kernels/) and
// tensor_source (fixed tensors, for benchmarks and tests).
class view_source {
 public:
  virtual ~view_source() = default;
  virtual std::int64_t steps_per_epoch() const = 0;
  virtual int channels() const = 0;
  // Position the source at (epoch, step); next() then returns that batch.
  virtual void start(std::int64_t epoch, std::int64_t step) = 0;
  virtual view_batch next() = 0;
  // Which view-2 images next() hands out (see view_batch). The default accepts gather and off
  // (own view 2) and refuses local with a config_error naming moco.shuffle_bn.
  virtual void set_key_views(moco::shuffle_mode mode, std::uint64_t shuffle_seed);
  // The training device (train::plan_device's, with its index): next() then hands out views
  // on it. The default accepts the CPU only (config_error naming train.device otherwise).
  virtual void set_device(const torch::Device& device);
  // Sources whose batches need a collective between ranks (data.cache = memory's all-to-all)
  // run it on the training thread, the one that calls MPI: the trainer calls
  // main_thread_exchange for every batch, in order, up to prefetch + 1 batches before the
  // pipeline thread asks next() for it (so every rank runs the same exchanges whatever the
  // threads' timing). Default: no exchange.
  virtual bool exchanges_on_main_thread() const { return false; }
  virtual void main_thread_exchange(std::int64_t epoch, std::int64_t step);
};

class pipeline {
 public:
  // Produces batches from (epoch, step) onwards, `total` of them, `depth` ahead of the trainer.
  // The thread runs with `device` as its current device (CUDA: the rank's one; the source's
  // copies and kernels are enqueued on that device's current stream, as the step's are).
  pipeline(view_source& source, std::int64_t epoch, std::int64_t step, std::int64_t total,
           int depth, torch::Device device = torch::kCPU);
  ~pipeline();  // stops and joins the thread
  pipeline(const pipeline&) = delete;
  pipeline& operator=(const pipeline&) = delete;

  view_batch next();
  // Seconds next() spent blocked, summed since construction (the pipeline is hidden when this
  // stays near zero).
  double wait_seconds() const { return wait_s_; }

 private:
  void run(bounded_queue<view_batch>& q, std::int64_t epoch, std::int64_t step, std::int64_t total,
           torch::Device device);
  view_source& source_;
  double wait_s_ = 0;
  std::unique_ptr<background_producer<view_batch>> producer_;  // last: joined first
};

// A source cycling over fixed tensors (view1, view2 of `n` samples, n a multiple of the
// local batch). Costs nothing per batch: the reference point of the pipeline benchmark.
class tensor_source final : public view_source {
 public:
  tensor_source(torch::Tensor view1, torch::Tensor view2, std::int64_t local_batch);
  std::int64_t steps_per_epoch() const override { return steps_; }
  int channels() const override { return static_cast<int>(view1_.size(1)); }
  void start(std::int64_t epoch, std::int64_t step) override;
  view_batch next() override;
  void set_device(const torch::Device& device) override;  // moves the tensors there once

 private:
  torch::Tensor view1_, view2_;
  std::int64_t batch_, steps_, epoch_ = 0, step_ = 0;
};

}  // namespace skyssl::train
