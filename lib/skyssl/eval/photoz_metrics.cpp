#include "skyssl/eval/photoz_metrics.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "skyssl/core/error.hpp"

namespace skyssl::eval {
namespace {
double median(std::vector<double> v) {
  const auto mid = v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2);
  std::nth_element(v.begin(), mid, v.end());
  if (v.size() % 2) return *mid;
  const double hi = *mid;
  const double lo = *std::max_element(v.begin(), mid);
  return 0.5 * (lo + hi);
}
}  // namespace

photoz_metrics compute_photoz_metrics(const std::vector<double>& z_pred,
                                      const std::vector<double>& z_true) {
  if (z_pred.size() != z_true.size() || z_pred.empty())
    throw data_error(fmt::format("photo-z metrics: {} predictions for {} true redshifts",
                                 z_pred.size(), z_true.size()));
  std::vector<double> dz(z_pred.size());
  photoz_metrics m;
  m.count = static_cast<long>(dz.size());
  for (std::size_t i = 0; i < dz.size(); ++i) {
    dz[i] = (z_pred[i] - z_true[i]) / (1.0 + z_true[i]);
    m.bias += dz[i];
    m.outliers_005 += std::abs(dz[i]) > 0.05;
    m.outliers_015 += std::abs(dz[i]) > 0.15;
  }
  m.bias /= m.count;
  m.outliers_005 /= m.count;
  m.outliers_015 /= m.count;
  const double med = median(dz);
  std::vector<double> dev(dz.size());
  for (std::size_t i = 0; i < dz.size(); ++i) dev[i] = std::abs(dz[i] - med);
  m.sigma_mad = 1.4826 * median(dev);
  return m;
}

double accuracy(const std::vector<int>& predicted, const std::vector<int>& truth) {
  if (predicted.size() != truth.size() || truth.empty())
    throw data_error(
        fmt::format("accuracy: {} predictions for {} labels", predicted.size(), truth.size()));
  std::size_t hit = 0;
  for (std::size_t i = 0; i < truth.size(); ++i) hit += predicted[i] == truth[i];
  return static_cast<double>(hit) / static_cast<double>(truth.size());
}

}  // namespace skyssl::eval
