#pragma once
// The input pipeline: a thread that reads and augments batch s+1 while the trainer computes
// step s, handing batches over through a bounded queue (depth train.prefetch, 1-2). Memory is
// bounded by that depth; an error on the thread is rethrown by next().
#include <torch/types.h>

#include <cstdint>
#include <memory>

#include "skyssl/core/bounded_queue.hpp"

namespace skyssl::train {

// Two augmented views of this rank's slice of one global batch.
struct view_batch {
  std::int64_t epoch = 0;
  std::int64_t step = 0;  // within the epoch
  torch::Tensor ids;      // (B) int64 global sample ids
  torch::Tensor view1, view2;
  std::int64_t nonfinite_pixels = 0;  // NaN/Inf input pixels set to 0 (data.nonfinite = "zero")
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
};

class pipeline {
 public:
  // Produces batches from (epoch, step) onwards, `total` of them, `depth` ahead of the trainer.
  pipeline(view_source& source, std::int64_t epoch, std::int64_t step, std::int64_t total,
           int depth);
  ~pipeline();  // stops and joins the thread
  pipeline(const pipeline&) = delete;
  pipeline& operator=(const pipeline&) = delete;

  view_batch next();
  // Seconds next() spent blocked, summed since construction (the pipeline is hidden when this
  // stays near zero).
  double wait_seconds() const { return wait_s_; }

 private:
  void run(bounded_queue<view_batch>& q, std::int64_t epoch, std::int64_t step, std::int64_t total);
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

 private:
  torch::Tensor view1_, view2_;
  std::int64_t batch_, steps_, epoch_ = 0, step_ = 0;
};

}  // namespace skyssl::train
