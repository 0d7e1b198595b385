#include "skyssl/train/pipeline.hpp"

#include <fmt/format.h>

#include <c10/core/DeviceGuard.h>

#include <chrono>

#include "skyssl/core/error.hpp"

namespace skyssl::train {

pipeline::pipeline(view_source& source, std::int64_t epoch, std::int64_t step, std::int64_t total,
                   int depth, torch::Device device)
    : source_(source) {
  producer_ = std::make_unique<background_producer<view_batch>>(
      static_cast<std::size_t>(depth < 1 ? 1 : depth),
      [this, epoch, step, total, device](bounded_queue<view_batch>& q) {
        run(q, epoch, step, total, device);
      });
}

pipeline::~pipeline() = default;

void pipeline::run(bounded_queue<view_batch>& q, std::int64_t epoch, std::int64_t step,
                   std::int64_t total, torch::Device device) {
  // The device is per thread in CUDA: without this the thread's copies and kernels would go to
  // device 0 whatever the rank's device is.
  c10::OptionalDeviceGuard on_device;
  if (!device.is_cpu()) on_device.reset_device(device);
  const std::int64_t spe = source_.steps_per_epoch();
  source_.start(epoch, step);
  for (std::int64_t i = 0; i < total; ++i) {
    if (step == spe) {
      ++epoch;
      step = 0;
      source_.start(epoch, step);
    }
    view_batch b = source_.next();
    if (b.epoch != epoch || b.step != step)
      throw error(fmt::format("input pipeline: expected epoch {} step {}, source gave {} {}", epoch,
                              step, b.epoch, b.step));
    ++step;
    if (!q.push(std::move(b))) return;  // the trainer is gone
  }
}

view_batch pipeline::next() {
  const auto t0 = std::chrono::steady_clock::now();
  auto b = producer_->queue().pop();  // rethrows the thread's error
  wait_s_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (b) return std::move(*b);
  throw error("input pipeline: asked for a batch past the end of the planned steps");
}

void view_source::set_key_views(moco::shuffle_mode mode, std::uint64_t) {
  if (mode == moco::shuffle_mode::local)
    throw config_error(
        "moco.shuffle_bn = \"local\" needs an input that can read any sample of the global "
        "batch (the archive source); this input cannot: use \"gather\"");
}

void view_source::main_thread_exchange(std::int64_t, std::int64_t) {}

void view_source::set_device(const torch::Device& device) {
  if (!device.is_cpu())
    throw config_error("train.device = \"" + device.str() +
                       "\": this input produces host tensors only; use train.device=cpu");
}

void tensor_source::set_device(const torch::Device& device) {
  view1_ = view1_.to(device);
  view2_ = view2_.to(device);
}

tensor_source::tensor_source(torch::Tensor view1, torch::Tensor view2, std::int64_t local_batch)
    : view1_(std::move(view1)), view2_(std::move(view2)), batch_(local_batch) {
  if (batch_ < 1 || view1_.size(0) % batch_ != 0 || view1_.sizes() != view2_.sizes())
    throw error(fmt::format("tensor_source: {} samples do not split into batches of {}",
                            view1_.size(0), batch_));
  steps_ = view1_.size(0) / batch_;
}

void tensor_source::start(std::int64_t epoch, std::int64_t step) {
  epoch_ = epoch;
  step_ = step;
}

view_batch tensor_source::next() {
  view_batch b;
  b.epoch = epoch_;
  b.step = step_;
  const std::int64_t s = step_ % steps_;
  b.view1 = view1_.narrow(0, s * batch_, batch_);
  b.view2 = view2_.narrow(0, s * batch_, batch_);
  b.ids = torch::arange(s * batch_, (s + 1) * batch_, torch::kLong);
  if (++step_ == steps_) {
    step_ = 0;
    ++epoch_;
  }
  return b;
}

}  // namespace skyssl::train
