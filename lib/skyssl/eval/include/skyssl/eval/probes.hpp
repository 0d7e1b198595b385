#pragma once
// The probes of one encoder's frozen features on the shared splits (docs/evaluation.md):
//   morphology: linear probe (accuracy, per-class precision/recall) and weighted k-NN
//               (knn_accuracy), at every label count of the curve;
//   photo_z:    k-NN regression (sigma_mad, bias, outlier_frac_0.05/0.15) and the SDSS study's
//               binned head (head_* of the same), at every label count of the curve.
#include <torch/types.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <vector>

#include "skyssl/eval/linear_probe.hpp"
#include "skyssl/eval/splits.hpp"
#include "skyssl/eval/task_labels.hpp"

namespace skyssl::eval {

struct probe_config {
  split_options split;
  std::vector<std::int64_t> label_counts{64, 128, 256, 512, 1024};  // plus "all" always
  std::int64_t k = 20;
  float temperature = 0.07f;
  logistic_options logistic;
  redshift_bins bins;
};

struct task_splits {
  bool morphology = false, photo_z = false;
  split class_split, z_split;
};
task_splits make_task_splits(const task_labels& labels, const split_options& options);

// features (N, d) of rows [0, N): {"morphology": {...}, "photo_z": {...}} (tasks with labels).
// predictions, when given, receives {"z_knn": [...], "z_head": [...]} for the photo-z test rows
// (full training pool), for plots.
nlohmann::json probe_encoder(const torch::Tensor& features, const task_labels& labels,
                             const task_splits& splits, const probe_config& config,
                             nlohmann::json* predictions = nullptr);

// The predictors that use no image at all, on the same test rows: majority class of the
// training pool, and its median redshift.
nlohmann::json trivial_baselines(const task_labels& labels, const task_splits& splits);

}  // namespace skyssl::eval
