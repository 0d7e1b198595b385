#include "skyssl/eval/classification_metrics.hpp"

#include <fmt/format.h>

#include <limits>

#include "skyssl/core/error.hpp"

namespace skyssl::eval {

class_metrics per_class_metrics(const std::vector<int>& predicted, const std::vector<int>& truth,
                                int n_classes) {
  if (predicted.size() != truth.size() || truth.empty() || n_classes < 1)
    throw data_error(fmt::format("per-class metrics: {} predictions for {} labels",
                                 predicted.size(), truth.size()));
  std::vector<long> tp(n_classes), pred(n_classes), real(n_classes);
  for (std::size_t i = 0; i < truth.size(); ++i) {
    if (truth[i] < 0 || truth[i] >= n_classes || predicted[i] < 0 || predicted[i] >= n_classes)
      throw data_error(
          fmt::format("per-class metrics: row {}: label {} or prediction {} outside "
                      "[0, {})",
                      i, truth[i], predicted[i], n_classes));
    ++pred[predicted[i]];
    ++real[truth[i]];
    tp[truth[i]] += predicted[i] == truth[i];
  }
  const double nan = std::numeric_limits<double>::quiet_NaN();
  class_metrics m;
  for (int c = 0; c < n_classes; ++c) {
    m.precision.push_back(pred[c] ? static_cast<double>(tp[c]) / pred[c] : nan);
    m.recall.push_back(real[c] ? static_cast<double>(tp[c]) / real[c] : nan);
  }
  m.support = real;
  return m;
}

}  // namespace skyssl::eval
