#pragma once
// Dynamic loss scaling for fp16 training (Micikevicius et al. 2018; PyTorch's GradScaler): the
// loss is multiplied by a power of two S before backward, so small fp16 gradients do not flush
// to zero; the gradients are divided by S before the optimiser (exact: S is a power of two). A
// step whose gradients hold inf or NaN is skipped and S halves; after growth_interval good
// steps in a row S doubles. Its state is saved in checkpoints, so a resumed run scales (and
// skips) exactly as the uninterrupted one.
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace skyssl::moco {

struct loss_scaler_options {
  bool enabled = false;                 // off: scale 1, nothing checked, no step skipped
  double init_scale = 65536.0;          // 2^16, GradScaler's default
  std::int64_t growth_interval = 2000;  // good steps in a row before the scale doubles
};

class loss_scaler {
 public:
  loss_scaler() = default;
  // Throws error unless init_scale is a positive power of two and growth_interval >= 1.
  explicit loss_scaler(const loss_scaler_options& o);

  bool enabled() const { return opts_.enabled; }
  double scale() const { return scale_; }
  std::int64_t good_steps() const { return good_; }        // good steps since the last change
  std::int64_t skipped_steps() const { return skipped_; }  // over the run

  // loss * scale (the loss itself when disabled).
  torch::Tensor scale_loss(const torch::Tensor& loss) const;
  // Multiplies every gradient by 1/scale in place (two multi-tensor ops over all of them) and
  // returns whether all are finite. Call after the gradient all-reduce: an inf or NaN on any
  // rank survives the sum, so every rank reaches the same verdict without another collective.
  // Disabled: returns true and touches nothing.
  bool unscale(std::vector<torch::Tensor>& grads) const;
  // After the step's verdict: not finite -> skipped, scale halves, streak restarts; finite ->
  // the streak grows and the scale doubles at growth_interval (capped at 2^24 * init: fp32's
  // range stays far away).
  void update(bool finite);

  // (3) float64: scale, good steps, skipped steps. For checkpoints (state_io.hpp).
  torch::Tensor state() const;
  // Throws error naming `source` unless `t` is such a state with a power-of-two scale.
  void load_state(const torch::Tensor& t, const std::string& source);

 private:
  loss_scaler_options opts_;
  double scale_ = 1.0;
  std::int64_t good_ = 0;
  std::int64_t skipped_ = 0;
};

}  // namespace skyssl::moco
