#include "skyssl/eval/probes.hpp"

#include <torch/types.h>

#include <algorithm>

#include "skyssl/eval/classification_metrics.hpp"
#include "skyssl/eval/knn.hpp"
#include "skyssl/eval/photoz_metrics.hpp"
#include "skyssl/search/similarity_index.hpp"

namespace skyssl::eval {

namespace {

template <class T>
std::vector<T> pick(const std::vector<T>& v, const std::vector<std::int64_t>& rows) {
  std::vector<T> out;
  out.reserve(rows.size());
  for (auto r : rows) out.push_back(v[static_cast<std::size_t>(r)]);
  return out;
}

torch::Tensor rows_of(const torch::Tensor& f, const std::vector<std::int64_t>& rows) {
  return f.index_select(0, torch::tensor(rows, torch::kInt64)).contiguous();
}

// Cosine k-NN after centring both sets on the training rows' mean: pooled ReLU features are
// all positive, and without centring their common offset dominates every cosine.
search::neighbours knn_search(const torch::Tensor& train, const torch::Tensor& test,
                              std::int64_t k) {
  search::similarity_index index(static_cast<int>(train.size(1)));
  const auto mean = train.to(torch::kFloat32).mean(0);
  const auto tr = (train.to(torch::kFloat32) - mean).contiguous();
  const auto te = (test.to(torch::kFloat32) - mean).contiguous();
  index.add(tr.data_ptr<float>(), tr.size(0));
  return index.search(te.data_ptr<float>(), te.size(0), std::min(k, tr.size(0)));
}

nlohmann::json photoz_json(const photoz_metrics& m, const std::string& prefix) {
  return {{prefix + "sigma_mad", m.sigma_mad},
          {prefix + "bias", m.bias},
          {prefix + "outlier_frac_0.05", m.outliers_005},
          {prefix + "outlier_frac_0.15", m.outliers_015}};
}

std::vector<std::int64_t> first(const std::vector<std::int64_t>& v, std::int64_t n) {
  return {v.begin(), v.begin() + n};
}

nlohmann::json nan_to_null(const std::vector<double>& v) {
  nlohmann::json j = nlohmann::json::array();
  for (double x : v) j.push_back(std::isnan(x) ? nlohmann::json() : nlohmann::json(x));
  return j;
}

// One task over the label-count curve of split `sp`: fit_score(x_train, y_train, x_test,
// truth, full, top) fits on the first n rows of the pool and returns that point's metrics
// (`full`: n is the whole pool; `top` takes metrics reported for the full pool only). The
// full pool's point is also the task's top level, with n_train and n_test.
template <class T, class F>
nlohmann::json over_curve(const torch::Tensor& features, const split& sp,
                          const std::vector<T>& values, const std::vector<std::int64_t>& counts,
                          F&& fit_score) {
  const auto x_test = rows_of(features, sp.test);
  const auto truth = pick(values, sp.test);
  const auto pool = static_cast<std::int64_t>(sp.train.size());
  nlohmann::json j, curve = nlohmann::json::array();
  for (const auto n : curve_counts(counts, pool)) {
    const auto rows = first(sp.train, n);
    const bool full = n == pool;
    nlohmann::json top = nlohmann::json::object();
    auto point = fit_score(rows_of(features, rows), pick(values, rows), x_test, truth, full, top);
    if (full) {
      j = point;
      j.update(top);
      j["n_train"] = n;
      j["n_test"] = sp.test.size();
    }
    point["labels"] = n;
    curve.push_back(point);
  }
  j["curve"] = curve;
  return j;
}

}  // namespace

task_splits make_task_splits(const task_labels& labels, const split_options& o) {
  task_splits s;
  if (!labels.class_field.empty()) {
    s.morphology = true;
    s.class_split = make_split(labels.class_rows, o);
  }
  if (!labels.z_field.empty()) {
    s.photo_z = true;
    s.z_split = make_split(labels.z_rows, o);
  }
  return s;
}

nlohmann::json probe_encoder(const torch::Tensor& features, const task_labels& labels,
                             const task_splits& splits, const probe_config& c,
                             nlohmann::json* predictions) {
  nlohmann::json out;
  if (splits.morphology)
    out["morphology"] = over_curve(
        features, splits.class_split, labels.classes, c.label_counts,
        [&](const torch::Tensor& x_train, const std::vector<int>& y_train,
            const torch::Tensor& x_test, const std::vector<int>& truth, bool full,
            nlohmann::json& top) {
          nlohmann::json point;
          // A subset with one class only has no linear probe; k-NN still answers.
          const bool two = std::any_of(y_train.begin(), y_train.end(),
                                       [&](int y) { return y != y_train.front(); });
          if (two) {
            const auto model = fit_logistic(x_train, y_train, labels.n_classes, c.logistic);
            const auto predicted = model.predict(x_test);
            point["accuracy"] = accuracy(predicted, truth);
            if (full) {
              const auto pc = per_class_metrics(predicted, truth, labels.n_classes);
              top["precision"] = nan_to_null(pc.precision);
              top["recall"] = nan_to_null(pc.recall);
            }
          }
          const auto nn = knn_search(x_train, x_test, c.k);
          point["knn_accuracy"] =
              accuracy(knn_classify(nn, y_train, labels.n_classes, c.temperature), truth);
          return point;
        });
  if (splits.photo_z)
    out["photo_z"] =
        over_curve(features, splits.z_split, labels.z, c.label_counts,
                   [&](const torch::Tensor& x_train, const std::vector<double>& z_train,
                       const torch::Tensor& x_test, const std::vector<double>& truth, bool full,
                       nlohmann::json&) {
                     const auto nn = knn_search(x_train, x_test, c.k);
                     const auto z_knn = knn_regress(nn, z_train, c.temperature);
                     nlohmann::json point = photoz_json(compute_photoz_metrics(z_knn, truth), "");
                     // The 180-bin head is fitted on the full pool only: over the curve it would
                     // cost 180-class fits at every point for every encoder (minutes on 2 cores);
                     // the k-NN curve is cheap.
                     if (full) {
                       const auto z_head =
                           fit_predict_photoz_head(x_train, z_train, x_test, c.bins, c.logistic);
                       point.update(photoz_json(compute_photoz_metrics(z_head, truth), "head_"));
                       if (predictions) *predictions = {{"z_knn", z_knn}, {"z_head", z_head}};
                     }
                     return point;
                   });
  return out;
}

nlohmann::json trivial_baselines(const task_labels& labels, const task_splits& splits) {
  nlohmann::json out;
  if (splits.morphology) {
    const auto& sp = splits.class_split;
    std::vector<long> counts(static_cast<std::size_t>(labels.n_classes));
    for (auto r : sp.train) ++counts[static_cast<std::size_t>(labels.classes[r])];
    const int majority =
        static_cast<int>(std::max_element(counts.begin(), counts.end()) - counts.begin());
    const auto truth = pick(labels.classes, sp.test);
    out["morphology"] = {{"accuracy", accuracy(std::vector<int>(truth.size(), majority), truth)},
                         {"class", majority}};
  }
  if (splits.photo_z) {
    const auto& sp = splits.z_split;
    auto z = pick(labels.z, sp.train);
    std::nth_element(z.begin(), z.begin() + static_cast<std::ptrdiff_t>(z.size() / 2), z.end());
    const double median = z[z.size() / 2];
    const auto truth = pick(labels.z, sp.test);
    auto j =
        photoz_json(compute_photoz_metrics(std::vector<double>(truth.size(), median), truth), "");
    j["z"] = median;
    out["photo_z"] = j;
  }
  return out;
}

}  // namespace skyssl::eval
