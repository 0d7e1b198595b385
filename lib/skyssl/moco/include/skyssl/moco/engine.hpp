#pragma once
// The MoCo v2 training step (He et al. 2020; Chen et al. 2020), written so that its result does
// not depend on the number of ranks:
//  * BatchNorm statistics come from fixed groups of bn_group images, whatever the rank count;
//  * the shuffle-BN permutation of the global batch is a pure function of (seed, epoch, step)
//    computed on every rank (no broadcast);
//  * gradients are averaged over ranks (= the gradient of the global-batch mean loss);
//  * every rank enqueues the same all-gathered keys in global order.
#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "skyssl/dist/communicator.hpp"
#include "skyssl/model/resnet.hpp"
#include "skyssl/moco/loss_scaler.hpp"
#include "skyssl/moco/options.hpp"
#include "skyssl/moco/queue.hpp"

namespace skyssl::moco {

// Averages gradients over ranks in place. The default packs all gradients into one buffer and
// calls communicator::all_reduce_mean; lib/dist's gradient bucketer can be installed instead.
using gradient_reducer = std::function<void(std::vector<torch::Tensor>& grads)>;
gradient_reducer flat_all_reduce_mean(dist::communicator& comm);

// Wall seconds of the parts of one train_step on this rank (host clock: with CUDA tensors a
// phase ends when its work is queued, except where the step synchronises).
struct step_times {
  double to_device = 0;      // views to the encoders' device
  double query_forward = 0;  // encoder_q + head + normalise
  double key_path = 0;       // momentum update, shuffle, key forward, key all-gather, unshuffle
  double loss = 0;           // logits against the queue, cross-entropy
  double backward = 0;       // loss.backward() (a bucketed reducer overlaps its all-reduces)
  double grad_sync = 0;      // the gradient reducer: flat all-reduce, or waiting for buckets
  double optimizer = 0;      // opt.step()
  double enqueue = 0;        // queue write, loss and accuracy read back
};

struct step_result {
  double loss = 0;       // mean over this rank's batch (unscaled)
  bool skipped = false;  // fp16 loss scaling found inf/NaN gradients: no optimiser step
  double acc1 = 0;       // fraction of rows whose positive has the top logit (this rank)
  torch::Tensor logits;  // (B, 1 + K) of this rank, detached: for golden tests and diagnostics
  step_times times;
};

// Pieces of the step, exposed for tests.
// logits = [q.k | q.queue^T] / T, shape (B, 1 + K).
torch::Tensor moco_logits(const torch::Tensor& q, const torch::Tensor& k,
                          const torch::Tensor& queue, double T);
// Cross entropy with label 0, mean over rows.
torch::Tensor info_nce(const torch::Tensor& logits);
// key = m * key + (1 - m) * query, parameters only (BN buffers stay the key encoder's own).
// Two multi-tensor ops over all parameters (torch::_foreach_mul_ / _foreach_add_), same
// arithmetic as the per-tensor mul_ then add_.
void momentum_update(torch::nn::Module& key, const torch::nn::Module& query, double m);
void momentum_update(std::vector<torch::Tensor>& key, const std::vector<torch::Tensor>& query,
                     double m);
// Runs `x` through `f` in chunks of `group` rows (BatchNorm statistics per chunk).
torch::Tensor encode_chunked(model::resnet& f, const torch::Tensor& x, std::int64_t group);
// Permutation of [0, n) from Philox keyed (seed, epoch, sample = step, purpose shuffle_bn).
torch::Tensor shuffle_permutation(std::uint64_t seed, std::int64_t epoch, std::int64_t step,
                                  std::int64_t n);
// Under shuffle_bn = local: the positions in the global batch (0 <= p < G = local_batch x
// world) whose view-2 images rank `rank` encodes, in the order it encodes them: positions
// perm[rank*B, (rank+1)*B) of shuffle_permutation(seed, epoch, step, G). Its input pipeline
// reads and augments those samples and hands their view 2 to train_step.
std::vector<std::int64_t> key_positions(std::uint64_t seed, std::int64_t epoch, std::int64_t step,
                                        std::int64_t local_batch, int rank, int world);

class engine {
 public:
  // Builds both encoders from the current global torch generator state (seed it identically on
  // every rank first); the key encoder starts as a copy of the query encoder. local_batch is
  // this rank's batch; the global batch is local_batch * comm.world().
  engine(const model::resnet_options& model_opts, const moco_options& opts,
         std::int64_t local_batch, dist::communicator& comm, torch::Device device = torch::kCPU);

  // One step: forward, loss, backward, gradient average, optimiser step (over the query
  // encoder's parameters), enqueue. `step` is a counter unique within the epoch. view2 is this
  // rank's own view-2 batch, except under shuffle_bn = local where it holds the view-2 images
  // of the samples at key_positions(seed, epoch, step, B, rank, world) of the global batch.
  step_result train_step(const torch::Tensor& view1, const torch::Tensor& view2, std::int64_t epoch,
                         std::int64_t step, torch::optim::Optimizer& opt);

  // Same forward and loss without any update (for tests and evaluation of the loss).
  torch::Tensor loss(const torch::Tensor& view1, const torch::Tensor& view2, std::int64_t epoch,
                     std::int64_t step);

  // Broadcast every parameter and buffer of both encoders, and the queue, from rank 0.
  void broadcast_state(int root = 0);
  // Average BN running statistics over ranks (they see different chunks); call before eval
  // or saving so every rank holds the same weights.
  void average_bn_buffers();

  void set_gradient_reducer(gradient_reducer r) { reducer_ = std::move(r); }
  // Dynamic loss scaling (fp16): train_step backpropagates loss * scale, unscales the averaged
  // gradients and skips the optimiser step when any is inf/NaN (loss_scaler.hpp). Off by default.
  void set_loss_scaler(const loss_scaler& s) { scaler_ = s; }
  loss_scaler& scaler() { return scaler_; }
  // Both encoders' 4-D parameters and the views they are handed in channels-last (NHWC) memory
  // format (on: converted here, inputs once per step in forward). Values are unchanged; only the
  // strides differ. Call before the optimiser is built (its state follows the parameters).
  void set_channels_last(bool on);
  bool channels_last() const { return channels_last_; }
  model::resnet& encoder_q() { return encoder_q_; }
  model::resnet& encoder_k() { return encoder_k_; }
  key_queue& queue() { return queue_; }
  const moco_options& options() const { return opts_; }
  std::int64_t local_batch() const { return local_batch_; }
  std::int64_t global_batch() const { return local_batch_ * comm_.world(); }
  std::int64_t bn_group() const { return bn_group_; }

 private:
  struct forward_out {
    torch::Tensor loss, logits, keys_global;
  };
  forward_out forward(const torch::Tensor& view1, const torch::Tensor& view2, std::int64_t epoch,
                      std::int64_t step, bool update_key_encoder, step_times* times);
  torch::Tensor encode_keys(const torch::Tensor& view2, std::int64_t epoch, std::int64_t step);

  moco_options opts_;
  std::int64_t local_batch_;
  std::int64_t bn_group_;
  dist::communicator& comm_;
  torch::Device device_;
  model::resnet encoder_q_{nullptr}, encoder_k_{nullptr};
  key_queue queue_;
  gradient_reducer reducer_;
  loss_scaler scaler_;
  bool channels_last_ = false;
};

}  // namespace skyssl::moco
