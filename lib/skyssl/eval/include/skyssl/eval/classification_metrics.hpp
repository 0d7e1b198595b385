#pragma once
// Per-class precision and recall of a classifier's predictions (accuracy is in
// photoz_metrics.hpp, next to the other scalar metrics).
#include <vector>

namespace skyssl::eval {

struct class_metrics {
  std::vector<double> precision, recall;  // per class; NaN where undefined (no predictions /
                                          // no true members of that class)
  std::vector<long> support;              // true members per class
};

class_metrics per_class_metrics(const std::vector<int>& predicted, const std::vector<int>& truth,
                                int n_classes);

}  // namespace skyssl::eval
