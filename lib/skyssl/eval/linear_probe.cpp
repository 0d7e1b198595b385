#include "skyssl/eval/linear_probe.hpp"

#include <fmt/format.h>
#include <torch/types.h>
#include <torch/optim/lbfgs.h>
#include <torch/nn/functional.h>
#include <torch/utils.h>

#include <algorithm>
#include <cmath>

#include "skyssl/core/error.hpp"

namespace skyssl::eval {

torch::Tensor logistic_model::probabilities(const torch::Tensor& x) const {
  torch::NoGradGuard no_grad;
  const auto z = (x.to(torch::kFloat64) - mean) * inv_std;
  return torch::softmax(torch::addmm(bias, z, weight), 1);
}

std::vector<int> logistic_model::predict(const torch::Tensor& x) const {
  const auto best = probabilities(x).argmax(1).to(torch::kInt64).contiguous();
  const auto* p = best.data_ptr<std::int64_t>();
  return std::vector<int>(p, p + best.size(0));
}

logistic_model fit_logistic(const torch::Tensor& x, const std::vector<int>& labels, int n_classes,
                            const logistic_options& o) {
  if (x.dim() != 2 || x.size(0) != static_cast<std::int64_t>(labels.size()) || labels.empty())
    throw data_error(fmt::format("linear probe: {} feature rows for {} labels",
                                 x.dim() == 2 ? x.size(0) : -1, labels.size()));
  if (n_classes < 2) throw data_error("linear probe: needs at least 2 classes");
  for (std::size_t i = 0; i < labels.size(); ++i)
    if (labels[i] < 0 || labels[i] >= n_classes)
      throw data_error(fmt::format("linear probe: label {} of row {} is outside [0, {})", labels[i],
                                   i, n_classes));
  const auto xd = x.to(torch::kFloat64);
  logistic_model m;
  m.mean = xd.mean(0);
  // A constant feature has std 0: it carries nothing, keep it at 0 after centring.
  const auto sd = xd.std(0, /*unbiased=*/false);
  m.inv_std = torch::where(sd > 1e-12, 1.0 / sd, torch::zeros_like(sd));
  const auto z = (xd - m.mean) * m.inv_std;
  const auto y = torch::tensor(std::vector<std::int64_t>(labels.begin(), labels.end()));
  auto w = torch::zeros({x.size(1), n_classes}, torch::kFloat64).requires_grad_(true);
  auto b = torch::zeros({n_classes}, torch::kFloat64).requires_grad_(true);
  torch::optim::LBFGS opt({w, b}, torch::optim::LBFGSOptions(1.0)
                                      .max_iter(o.max_iter)
                                      .tolerance_grad(1e-9)
                                      .tolerance_change(1e-12)
                                      .history_size(20)
                                      .line_search_fn("strong_wolfe"));
  auto closure = [&] {
    opt.zero_grad();
    auto loss = torch::nn::functional::cross_entropy(torch::addmm(b, z, w), y) +
                0.5 * o.l2 * w.pow(2).sum();
    loss.backward();
    return loss;
  };
  opt.step(closure);
  m.weight = w.detach();
  m.bias = b.detach();
  return m;
}

int redshift_bins::bin_of(double z) const {
  const int b = static_cast<int>(std::floor((z - z_min) / (z_max - z_min) * count));
  return std::clamp(b, 0, count - 1);
}

double redshift_bins::centre(int bin) const {
  return z_min + (bin + 0.5) * (z_max - z_min) / count;
}

std::vector<double> fit_predict_photoz_head(const torch::Tensor& x_train,
                                            const std::vector<double>& z_train,
                                            const torch::Tensor& x_test, const redshift_bins& bins,
                                            const logistic_options& o) {
  std::vector<int> labels(z_train.size());
  for (std::size_t i = 0; i < z_train.size(); ++i) labels[i] = bins.bin_of(z_train[i]);
  const auto m = fit_logistic(x_train, labels, bins.count, o);
  std::vector<double> centres(static_cast<std::size_t>(bins.count));
  for (int b = 0; b < bins.count; ++b) centres[static_cast<std::size_t>(b)] = bins.centre(b);
  const auto pred =
      torch::mv(m.probabilities(x_test), torch::tensor(centres, torch::kFloat64)).contiguous();
  const auto* p = pred.data_ptr<double>();
  return std::vector<double>(p, p + pred.size(0));
}

}  // namespace skyssl::eval
