#pragma once
// The copy stage applied to a batch of samples: its tensors on the training device. On the CPU
// (the default) the identity. On a CUDA device each batch can be staged in a pinned slot of a
// staging_pool (the reader's own buffers are pageable) and uploaded on device_copy's side stream
// while the current step computes. docs/gpu.md.
#include <memory>

#include "skyssl/data/sample_batch.hpp"
#include "skyssl/train/device_copy.hpp"
#include "skyssl/train/staging_pool.hpp"

namespace skyssl::train {

class batch_upload {
 public:
  // `slots`: pinned staging slots on the device path (as many as batches in flight).
  explicit batch_upload(int slots) : slots_(slots) {}

  // A CUDA device turns the copy stage on; the CPU turns it off.
  void set_device(const torch::Device& device);
  bool active() const { return copy_->active(); }
  const torch::Device& device() const { return copy_->device(); }
  const staging_pool* staging() const { return staging_.get(); }

  // `s` with its tensors on the device. With `hold`, the host side goes through a pinned slot
  // held by *hold until the step that uses the batch is done; without, the copy is made from the
  // tensors as they are (synchronously).
  data::sample_batch to_device(const data::sample_batch& s, std::shared_ptr<void>* hold);

 private:
  int slots_;
  std::unique_ptr<device_copy> copy_ = std::make_unique<device_copy>(torch::kCPU);
  std::unique_ptr<staging_pool> staging_;  // device path only
};

}  // namespace skyssl::train
