#pragma once
// Data-parallel gradient synchronisation: gradients are packed into fixed-size buckets, and
// each bucket is all-reduced (sum, then divided by the world size) as soon as all of its
// gradients are ready, overlapping communication with the rest of the backward pass.
//
//   dist::gradient_bucketer sync(comm, model->parameters(), opts.bucket_mb);
//   loss.backward();      // hooks pack gradients and start bucket all-reduces
//   sync.finish();        // waits, writes the rank-averaged gradients into p.grad()
//   optimizer.step();
//
// Buckets are filled in reverse parameter order (gradients become ready roughly from the
// output layer back) and started strictly in bucket order, so every rank issues the same
// sequence of collectives even if its autograd visits parameters in another order.
//
// Threads: autograd hooks run on the thread that executes the backward pass. On CPU that is
// the thread calling backward(), which owns MPI under MPI_THREAD_FUNNELED. A hook that runs on
// any other thread (CUDA backward runs on the autograd device threads) only marks its bucket
// ready; the collective is then started from finish() on the owning thread.
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "skyssl/dist/communicator.hpp"

namespace skyssl::dist {

class gradient_bucketer {
 public:
  // params: the parameters to synchronise (those without requires_grad are skipped); the
  // same list, in the same order, on every rank. The bucketer must not outlive them or comm.
  gradient_bucketer(communicator& comm, std::vector<torch::Tensor> params, double bucket_mb = 25.0);
  ~gradient_bucketer();
  gradient_bucketer(const gradient_bucketer&) = delete;
  gradient_bucketer& operator=(const gradient_bucketer&) = delete;

  // Completes every bucket (a parameter that got no gradient this step contributes its current
  // .grad, or zeros), waits for the all-reduces, and writes the averaged gradients into each
  // parameter's .grad. Call once after each backward(), on the thread that built the bucketer.
  void finish();

  std::size_t bucket_count() const { return buckets_.size(); }
  // Buckets whose all-reduce was started from a hook during the last backward (diagnostics,
  // and the test that hooks run on the owning thread).
  std::size_t started_early() const { return last_started_early_; }

 private:
  struct slot {
    torch::Tensor param;
    std::size_t bucket = 0;
    std::int64_t offset = 0;  // elements into the bucket buffer
    bool seen = false;        // got its gradient this step
  };
  struct bucket {
    torch::Tensor buffer;  // flat, the parameters' dtype and device
    std::vector<std::size_t> slots;
    std::size_t ready = 0;
    std::unique_ptr<pending_op> op;
  };

  void on_grad(std::size_t slot_index, const torch::Tensor& grad);
  void start_ready_buckets();
  void start(std::size_t b);

  communicator& comm_;
  std::vector<slot> slots_;
  std::vector<bucket> buckets_;
  std::vector<unsigned> hook_ids_;
  std::size_t next_to_start_ = 0;
  std::size_t started_early_ = 0, last_started_early_ = 0;
  std::thread::id owner_;
};

// For callers that reduce after backward through a callback taking the gradient list (e.g.
// moco::engine::set_gradient_reducer): builds a bucketer over `params` now (its hooks start the
// all-reduces during backward) and returns a callback that calls finish(). The list it is given
// must be the parameters' own .grad tensors (finish() updates them in place); it is otherwise
// ignored. The callback owns the bucketer; `comm` and the parameters must outlive it.
std::function<void(std::vector<torch::Tensor>&)> bucketed_reducer(communicator& comm,
                                                                  std::vector<torch::Tensor> params,
                                                                  double bucket_mb = 25.0);

}  // namespace skyssl::dist
