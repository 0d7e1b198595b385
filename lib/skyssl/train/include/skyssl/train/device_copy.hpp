#pragma once
// The copy stage of the device path: a batch's host tensors go to the training device on a
// side stream while the previous step computes, and the step's stream waits for them on the
// device (an event), never on the host. Device-generic through c10's stream and event
// interfaces, so it compiles and links against a CPU-only LibTorch; with train.device = "cpu"
// every operation is the identity (no copy, no stream, no pinned memory). docs/gpu.md.
#include <c10/core/Event.h>
#include <c10/core/Stream.h>
#include <torch/types.h>

#include <memory>
#include <optional>
#include <vector>

#include "skyssl/train/staging_pool.hpp"

namespace skyssl::train {

class device_copy {
 public:
  explicit device_copy(torch::Device device);
  device_copy(const device_copy&) = delete;
  device_copy& operator=(const device_copy&) = delete;

  // False on the CPU: upload() hands the host tensors back untouched.
  bool active() const { return active_; }
  const torch::Device& device() const { return device_; }

  // A host tensor for the reader to fill: page-locked when uploads are asynchronous (a copy
  // from pageable memory would run synchronously through a driver bounce buffer).
  torch::Tensor host_buffer(torch::IntArrayRef shape, c10::ScalarType dtype) const;

  struct in_flight {
    std::vector<torch::Tensor> tensors;  // on device(), in the order given
    std::optional<c10::Event> copied;    // recorded on the copy stream after the copies
  };

  // Enqueues the copies on the copy stream and returns at once. The host tensors must stay
  // untouched until ready() has been called for the result (the reader's buffers are recycled
  // only after the step that used them).
  in_flight upload(const std::vector<torch::Tensor>& host);

  // Makes the current stream of device() wait for the copies (on the device) and tells the
  // caching allocator the tensors are used there, so their memory is not reused early.
  void ready(in_flight& batch) const;

  // A marker recorded now on the current stream of device() (the step that used a batch has
  // been enqueued there): done once that work has run. On the CPU it is done at once. The
  // staging_pool's marker on the device path.
  std::unique_ptr<completion> mark_step() const;

 private:
  torch::Device device_;
  bool active_ = false;
  std::optional<c10::Stream> stream_;
};

}  // namespace skyssl::train
