#pragma once
// The reader side of the device path's copy stage: a small fixed pool of host buffer slots
// (page-locked, from device_copy::host_buffer) that a batch is staged in before its upload. A
// slot goes back to the reader only after the step that used its batch has finished on the
// device: when the consumer drops the batch's handle a completion marker is recorded (an event
// on the step's stream), and acquire() hands the slot out again only once that marker is done,
// waiting on the earliest released one when no slot is free. The marker is an interface, so
// the recycling is tested on the CPU with a fake event (docs/gpu.md).
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

namespace skyssl::train {

// Something recorded after a step's work: done() when that work has finished.
class completion {
 public:
  virtual ~completion() = default;
  virtual bool done() const = 0;
  virtual void wait() const = 0;  // until done()
};

class staging_pool {
 public:
  // Records a marker on the stream of the step that just used a batch (called on the thread
  // that drops the batch: the training thread).
  using marker = std::function<std::unique_ptr<completion>()>;
  // `slots` >= 1 buffers are recycled; when every one is held by a batch still in the
  // pipeline, acquire() returns an untracked slot instead of blocking (memory stays bounded
  // by what the consumer holds, and nothing can wait on itself).
  staging_pool(int slots, marker mark);
  ~staging_pool();
  staging_pool(const staging_pool&) = delete;
  staging_pool& operator=(const staging_pool&) = delete;

  // A slot's tensors: empty the first time (the caller allocates them), else what it held
  // last. Dropping every copy of the handle releases the slot (records the marker).
  using handle = std::shared_ptr<std::vector<torch::Tensor>>;
  handle acquire();

  int slots() const;
  int held() const;            // handed out and not yet dropped
  int pending() const;         // dropped, their marker not yet seen done
  std::int64_t waits() const;  // times acquire() had to wait for a marker

 private:
  struct state;
  std::shared_ptr<state> st_;
};

}  // namespace skyssl::train
