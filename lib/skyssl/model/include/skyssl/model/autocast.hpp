#pragma once
// Mixed precision for the encoders: LibTorch's autocast switched on for one device type and
// one dtype for the lifetime of a scope, the previous state restored after it (autocast state
// is per thread). Convolutions and matrix products run in the lower precision; parameters,
// gradients, the optimiser and everything after the encoders (logits, loss, queue) stay fp32.
#include <torch/types.h>

#include <optional>
#include <string>

namespace skyssl::model {

// "fp32" -> none, "bf16" -> kBFloat16, "fp16" -> kHalf; anything else throws config_error.
std::optional<c10::ScalarType> autocast_dtype(const std::string& precision);

// Whether autocast is on for `device`'s type on this thread.
bool autocast_active(const torch::Device& device);

class autocast_scope {
 public:
  // No-op when dtype is empty.
  autocast_scope(const torch::Device& device, std::optional<c10::ScalarType> dtype);
  ~autocast_scope();
  autocast_scope(const autocast_scope&) = delete;
  autocast_scope& operator=(const autocast_scope&) = delete;

 private:
  bool active_ = false;
  bool cuda_ = false;
  bool was_enabled_ = false;
  c10::ScalarType was_dtype_ = c10::ScalarType::Float;
};

}  // namespace skyssl::model
