#include "skyssl/train/device_copy.hpp"

#include <c10/core/StreamGuard.h>
#include <c10/core/impl/VirtualGuardImpl.h>

#include <chrono>
#include <thread>

#include "skyssl/core/error.hpp"

namespace skyssl::train {

device_copy::device_copy(torch::Device device) : device_(device), active_(!device.is_cpu()) {
  if (!active_) return;
  if (!device_.has_index())
    throw config_error("device_copy: device " + device_.str() +
                       " has no index (choose it with train::plan_device)");
  const c10::impl::VirtualGuardImpl impl(device_.type());
  stream_ = impl.getStreamFromGlobalPool(device_);
}

torch::Tensor device_copy::host_buffer(torch::IntArrayRef shape, c10::ScalarType dtype) const {
  auto t = torch::empty(shape, torch::TensorOptions().dtype(dtype));
  return active_ ? t.pin_memory() : t;
}

device_copy::in_flight device_copy::upload(const std::vector<torch::Tensor>& host) {
  in_flight out;
  if (!active_) {
    out.tensors = host;
    return out;
  }
  // Each upload gets fresh device memory from the caching allocator, owned by the copy stream;
  // ready() records the compute stream's use of it, so memory of an earlier batch is not handed
  // to a later upload while a step may still read it.
  const c10::StreamGuard guard(*stream_);
  out.tensors.reserve(host.size());
  for (const auto& h : host)
    out.tensors.push_back(h.to(device_, /*non_blocking=*/h.is_pinned(), /*copy=*/false));
  out.copied.emplace(device_.type());
  out.copied->record(*stream_);
  return out;
}

namespace {
class done_now final : public completion {
 public:
  bool done() const override { return true; }
  void wait() const override {}
};
class event_completion final : public completion {
 public:
  explicit event_completion(c10::Event e) : event_(std::move(e)) {}
  bool done() const override { return event_.query(); }
  // c10::Event has no host wait in LibTorch 1.13: poll (the step it follows is milliseconds).
  void wait() const override {
    while (!event_.query()) std::this_thread::sleep_for(std::chrono::microseconds(50));
  }

 private:
  c10::Event event_;
};
}  // namespace

std::unique_ptr<completion> device_copy::mark_step() const {
  if (!active_) return std::make_unique<done_now>();
  const c10::impl::VirtualGuardImpl impl(device_.type());
  c10::Event e(device_.type());
  e.record(impl.getStream(device_));
  return std::make_unique<event_completion>(std::move(e));
}

void device_copy::ready(in_flight& batch) const {
  if (!active_ || !batch.copied) return;
  const c10::impl::VirtualGuardImpl impl(device_.type());
  const c10::Stream compute = impl.getStream(device_);
  batch.copied->block(compute);
  for (const auto& t : batch.tensors)
    if (t.defined()) impl.recordDataPtrOnStream(t.storage().data_ptr(), compute);
  batch.copied.reset();
}

}  // namespace skyssl::train
