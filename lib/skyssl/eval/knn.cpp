#include "skyssl/eval/knn.hpp"

#include <fmt/format.h>

#include <cmath>

#include "skyssl/core/error.hpp"

namespace skyssl::eval {

std::vector<int> knn_classify(const search::neighbours& nn, const std::vector<int>& train_labels,
                              int n_classes, float temperature) {
  const std::int64_t n = static_cast<std::int64_t>(nn.ids.size()) / nn.k;
  std::vector<int> out(n);
  std::vector<double> votes(n_classes);
  for (std::int64_t i = 0; i < n; ++i) {
    std::fill(votes.begin(), votes.end(), 0.0);
    for (std::int64_t j = 0; j < nn.k; ++j) {
      const auto id = nn.ids[i * nn.k + j];
      const int label = train_labels.at(id);
      if (label < 0 || label >= n_classes)
        throw data_error(fmt::format("k-NN: label {} of training row {} is outside [0, {})", label,
                                     id, n_classes));
      votes[label] += std::exp(nn.scores[i * nn.k + j] / temperature);
    }
    int best = 0;
    for (int c = 1; c < n_classes; ++c)
      if (votes[c] > votes[best]) best = c;
    out[i] = best;
  }
  return out;
}

std::vector<double> knn_regress(const search::neighbours& nn,
                                const std::vector<double>& train_values, float temperature) {
  const std::int64_t n = static_cast<std::int64_t>(nn.ids.size()) / nn.k;
  std::vector<double> out(n);
  for (std::int64_t i = 0; i < n; ++i) {
    double w_sum = 0, v_sum = 0;
    for (std::int64_t j = 0; j < nn.k; ++j) {
      const double w = std::exp((nn.scores[i * nn.k + j] - nn.scores[i * nn.k]) / temperature);
      w_sum += w;
      v_sum += w * train_values.at(nn.ids[i * nn.k + j]);
    }
    out[i] = v_sum / w_sum;
  }
  return out;
}

}  // namespace skyssl::eval
