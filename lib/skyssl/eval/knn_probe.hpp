#pragma once
// The k-NN probe on frozen representations: half the labelled galaxies are the reference set,
// the rest are classified (morphology) or regressed (redshift) from their k nearest
// references, next to the baselines a probe must beat (majority class, median redshift).
#include <torch/types.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "skyssl/eval/photoz_metrics.hpp"

namespace skyssl::eval {

struct probe_options {
  std::int64_t k = 20;
  double train_fraction = 0.5;  // galaxies in the reference set, chosen by a keyed hash of id
  std::uint64_t seed = 0;
  float temperature = 0.07f;
};

struct probe_report {
  std::int64_t n_train = 0, n_test = 0;
  std::optional<double> morphology_accuracy, morphology_majority;
  std::optional<photoz_metrics> photoz, photoz_median;
};

// features (N,d) unit rows; ids (N); morphology labels (0..C-1) and z_spec may be empty.
probe_report knn_probe(const torch::Tensor& features, const torch::Tensor& ids,
                       const std::vector<int>& morphology, const std::vector<double>& z_spec,
                       const probe_options& options);

}  // namespace skyssl::eval
