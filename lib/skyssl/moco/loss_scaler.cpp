#include "skyssl/moco/loss_scaler.hpp"

#include <fmt/format.h>
#include <torch/types.h>

#include <cmath>
#include <string>

#include "skyssl/core/error.hpp"

namespace skyssl::moco {
namespace {

bool power_of_two(double s) {
  int e = 0;
  return std::isfinite(s) && s > 0 && std::frexp(s, &e) == 0.5;
}

}  // namespace

loss_scaler::loss_scaler(const loss_scaler_options& o) : opts_(o) {
  if (!power_of_two(o.init_scale))
    throw error(
        fmt::format("loss scaler: initial scale {} is not a positive power of two (the "
                    "unscaled gradients would not be exact)",
                    o.init_scale));
  if (o.growth_interval < 1)
    throw error(fmt::format("loss scaler: growth interval {} must be >= 1", o.growth_interval));
  scale_ = o.enabled ? o.init_scale : 1.0;
}

torch::Tensor loss_scaler::scale_loss(const torch::Tensor& loss) const {
  return opts_.enabled ? loss * scale_ : loss;
}

bool loss_scaler::unscale(std::vector<torch::Tensor>& grads) const {
  if (!opts_.enabled || grads.empty()) return true;
  torch::NoGradGuard no_grad;
  torch::_foreach_mul_(grads, 1.0 / scale_);
  // One reduction over all gradients on their device, then one read-back: the sum of the L1
  // norms is finite exactly when every element is (an inf or NaN anywhere makes it inf or NaN;
  // finite fp32 gradients of a sane model do not sum past fp32's range).
  auto norms = torch::_foreach_norm(grads, 1);
  auto total = torch::stack(norms).sum();
  return std::isfinite(total.item<double>());
}

void loss_scaler::update(bool finite) {
  if (!opts_.enabled) return;
  if (!finite) {
    ++skipped_;
    good_ = 0;
    // Never below 2^-24: a scale that small means the fp32 gradients themselves are not finite.
    scale_ = std::max(scale_ * 0.5, std::ldexp(1.0, -24));
    return;
  }
  if (++good_ >= opts_.growth_interval) {
    good_ = 0;
    scale_ = std::min(scale_ * 2.0, opts_.init_scale * std::ldexp(1.0, 24));
  }
}

torch::Tensor loss_scaler::state() const {
  return torch::tensor({scale_, static_cast<double>(good_), static_cast<double>(skipped_)},
                       torch::kFloat64);
}

void loss_scaler::load_state(const torch::Tensor& t, const std::string& source) {
  if (t.dim() != 1 || t.size(0) != 3 || t.scalar_type() != torch::kFloat64)
    throw checkpoint_error(
        fmt::format("'{}': scaler.state must be 3 float64 values (scale, good, skipped)", source));
  const auto c = t.cpu().contiguous();
  const double* p = c.data_ptr<double>();
  if (!power_of_two(p[0]) || p[1] < 0 || p[2] < 0)
    throw checkpoint_error(fmt::format(
        "'{}': scaler.state holds scale {} (not a power of two) or negative counts", source, p[0]));
  scale_ = p[0];
  good_ = static_cast<std::int64_t>(p[1]);
  skipped_ = static_cast<std::int64_t>(p[2]);
}

}  // namespace skyssl::moco
