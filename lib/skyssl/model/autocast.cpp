#include "skyssl/model/autocast.hpp"

#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include "skyssl/core/error.hpp"

// LibTorch 2.4 replaced the per-backend setters with device-type ones (and deprecated the old
// names, which -Werror would turn into build failures).
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define SKYSSL_AUTOCAST_BY_DEVICE 1
#endif

namespace skyssl::model {

namespace {
bool enabled(bool cuda) {
#ifdef SKYSSL_AUTOCAST_BY_DEVICE
  return at::autocast::is_autocast_enabled(cuda ? at::kCUDA : at::kCPU);
#else
  return cuda ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
#endif
}
c10::ScalarType dtype(bool cuda) {
#ifdef SKYSSL_AUTOCAST_BY_DEVICE
  return at::autocast::get_autocast_dtype(cuda ? at::kCUDA : at::kCPU);
#else
  return cuda ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
#endif
}
void set(bool cuda, bool on, c10::ScalarType t) {
#ifdef SKYSSL_AUTOCAST_BY_DEVICE
  at::autocast::set_autocast_enabled(cuda ? at::kCUDA : at::kCPU, on);
  at::autocast::set_autocast_dtype(cuda ? at::kCUDA : at::kCPU, t);
#else
  if (cuda) {
    at::autocast::set_enabled(on);
    at::autocast::set_autocast_gpu_dtype(t);
  } else {
    at::autocast::set_cpu_enabled(on);
    at::autocast::set_autocast_cpu_dtype(t);
  }
#endif
}
}  // namespace

bool autocast_active(const torch::Device& device) { return enabled(device.is_cuda()); }

std::optional<c10::ScalarType> autocast_dtype(const std::string& precision) {
  if (precision == "fp32") return std::nullopt;
  if (precision == "bf16") return c10::ScalarType::BFloat16;
  if (precision == "fp16") return c10::ScalarType::Half;
  throw config_error("train.precision must be 'fp32', 'bf16' or 'fp16', got '" + precision + "'");
}

autocast_scope::autocast_scope(const torch::Device& device, std::optional<c10::ScalarType> t) {
  if (!t) return;
  if (!device.is_cpu() && !device.is_cuda())
    throw config_error("autocast: no mixed precision on " + device.str());
  active_ = true;
  cuda_ = device.is_cuda();
  was_enabled_ = enabled(cuda_);
  was_dtype_ = dtype(cuda_);
  set(cuda_, true, *t);
  at::autocast::increment_nesting();
}

autocast_scope::~autocast_scope() {
  if (!active_) return;
  // Leaving the outermost scope frees the casted-weight cache, as PyTorch's context manager does.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  set(cuda_, was_enabled_, was_dtype_);
}

}  // namespace skyssl::model
