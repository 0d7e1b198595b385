#include "skyssl/eval/supervised_baseline.hpp"

#include <fmt/format.h>
#include <torch/types.h>
#include <torch/optim/sgd.h>
#include <torch/nn/functional.h>
#include <torch/nn/modules/linear.h>
#include <torch/utils.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

#include "kernels/augment.hpp"
#include "skyssl/core/config.hpp"
#include "skyssl/core/error.hpp"
#include "skyssl/core/log.hpp"
#include "skyssl/core/philox.hpp"
#include "skyssl/eval/classification_metrics.hpp"
#include "skyssl/eval/photoz_metrics.hpp"

namespace skyssl::eval {

namespace {

// Streams of the baseline (distinct from the splits' user + 2).
constexpr std::uint32_t order_purpose = rng::user + 5;
constexpr std::uint32_t flip_purpose = rng::user + 6;

// Centre crops of the given ascending rows, read `chunk` rows at a time.
torch::Tensor crops_of_rows(const data::archive& a, const kernels::augment_config& augment,
                            const std::vector<std::int64_t>& rows, std::int64_t chunk) {
  const auto n = static_cast<std::int64_t>(rows.size());
  torch::Tensor out = torch::empty({n, a.channels(), augment.crop_h, augment.crop_w});
  for (std::int64_t s = 0; s < n; s += chunk) {
    const std::int64_t m = std::min(chunk, n - s);
    const std::vector<std::int64_t> sub(rows.begin() + s, rows.begin() + s + m);
    auto images = torch::empty({m, a.channels(), a.height(), a.width()});
    a.read_images_rows(sub, images.data_ptr<float>());
    out.narrow(0, s, m).copy_(kernels::center_crop(augment, images));
  }
  return out;
}

// Positions 0..n-1 ordered by a keyed hash of (epoch, row): a fresh permutation every epoch.
std::vector<std::int64_t> epoch_order(const std::vector<std::int64_t>& rows, std::uint64_t seed,
                                      std::int64_t epoch) {
  std::vector<std::uint64_t> key(rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto w = rng::draw({seed, static_cast<std::uint64_t>(epoch),
                              static_cast<std::uint64_t>(rows[i]), 0, order_purpose},
                             0);
    key[i] = static_cast<std::uint64_t>(w.v[0]) << 32 | w.v[1];
  }
  std::vector<std::int64_t> order(rows.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
    return key[a] != key[b] ? key[a] < key[b] : a < b;
  });
  return order;
}

// Flips of either axis and a quarter turn (half turns only on non-square crops), per sample.
torch::Tensor flip_and_turn(const torch::Tensor& x, const std::vector<std::int64_t>& rows,
                            std::uint64_t seed, std::int64_t epoch) {
  const bool square = x.size(2) == x.size(3);
  std::vector<torch::Tensor> out;
  out.reserve(rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto w = rng::draw({seed, static_cast<std::uint64_t>(epoch),
                              static_cast<std::uint64_t>(rows[i]), 0, flip_purpose},
                             0);
    auto xi = x[static_cast<std::int64_t>(i)];
    if (w.v[0] & 1u) xi = xi.flip({1});
    if (w.v[0] & 2u) xi = xi.flip({2});
    std::int64_t turns = (w.v[0] >> 2) & 3u;
    if (!square) turns &= 2;
    if (turns) xi = torch::rot90(xi, turns, {1, 2});
    out.push_back(xi);
  }
  return torch::stack(out);
}

struct point_result {
  std::vector<int> predicted;
  std::int64_t steps = 0;
};

// Trains a fresh encoder + linear head on crops[pos] (labels y) and predicts the test crops.
point_result train_and_predict(const model::resnet_options& shape, const torch::Tensor& crops,
                               const std::vector<std::int64_t>& pos,
                               const std::vector<std::int64_t>& rows, const std::vector<int>& y,
                               const torch::Tensor& test_crops, int n_classes,
                               const supervised_options& o, std::uint64_t seed,
                               std::int64_t chunk) {
  torch::manual_seed(seed);
  model::resnet net(shape);
  torch::nn::Linear head(net->feature_dim(), n_classes);
  std::vector<torch::Tensor> params = net->parameters();
  for (const auto& p : head->parameters()) params.push_back(p);
  torch::optim::SGD opt(params,
                        torch::optim::SGDOptions(o.lr).momentum(0.9).weight_decay(o.weight_decay));
  const auto n = static_cast<std::int64_t>(pos.size());
  const std::int64_t batch = std::min(o.batch, n);
  const std::int64_t per_epoch = std::max<std::int64_t>(1, n / batch);  // remainder dropped
  point_result r;
  r.steps = supervised_steps(o, n);
  const auto pos_t = torch::tensor(pos, torch::kInt64);
  const auto y_t = torch::tensor(std::vector<std::int64_t>(y.begin(), y.end()), torch::kInt64);
  net->train();
  head->train();
  std::vector<std::int64_t> order;
  for (std::int64_t t = 0; t < r.steps; ++t) {
    const std::int64_t epoch = t / per_epoch, b = t % per_epoch;
    if (b == 0) order = epoch_order(rows, seed, epoch);
    std::vector<std::int64_t> idx(order.begin() + b * batch, order.begin() + (b + 1) * batch);
    std::vector<std::int64_t> batch_rows;
    for (auto i : idx) batch_rows.push_back(rows[static_cast<std::size_t>(i)]);
    const auto it = torch::tensor(idx, torch::kInt64);
    auto x = crops.index_select(0, pos_t.index_select(0, it));
    if (o.augment) x = flip_and_turn(x, batch_rows, seed, epoch);
    const double lr = o.lr * 0.5 * (1.0 + std::cos(M_PI * static_cast<double>(t) / r.steps));
    for (auto& g : opt.param_groups()) static_cast<torch::optim::SGDOptions&>(g.options()).lr(lr);
    opt.zero_grad();
    const auto loss =
        torch::nn::functional::cross_entropy(head(net->features(x)), y_t.index_select(0, it));
    loss.backward();
    opt.step();
  }
  net->eval();
  head->eval();
  torch::NoGradGuard no_grad;
  const std::int64_t m = test_crops.size(0);
  r.predicted.reserve(static_cast<std::size_t>(m));
  for (std::int64_t s = 0; s < m; s += chunk) {
    const auto logits = head(net->features(test_crops.narrow(0, s, std::min(chunk, m - s))));
    const auto am = logits.argmax(1).contiguous();
    const auto* p = am.data_ptr<std::int64_t>();
    for (std::int64_t i = 0; i < am.size(0); ++i) r.predicted.push_back(static_cast<int>(p[i]));
  }
  return r;
}

nlohmann::json nan_to_null(const std::vector<double>& v) {
  nlohmann::json j = nlohmann::json::array();
  for (double x : v) j.push_back(std::isnan(x) ? nlohmann::json() : nlohmann::json(x));
  return j;
}

}  // namespace

supervised_options supervised_options_from(const config& cfg, const std::string& s) {
  supervised_options o;
  const auto epochs = cfg.get_int(s + ".supervised_epochs", o.epochs);
  check_range(s + ".supervised_epochs", static_cast<double>(epochs), 0, 10000);
  o.epochs = static_cast<int>(epochs);
  o.min_steps = cfg.get_int(s + ".supervised_min_steps", o.min_steps);
  check_range(s + ".supervised_min_steps", static_cast<double>(o.min_steps), 0, 1e7);
  o.batch = cfg.get_int(s + ".supervised_batch", o.batch);
  check_range(s + ".supervised_batch", static_cast<double>(o.batch), 2, 1e6);
  o.lr = cfg.get_double(s + ".supervised_lr", o.lr);
  check_positive(s + ".supervised_lr", o.lr);
  o.weight_decay = cfg.get_double(s + ".supervised_weight_decay", o.weight_decay);
  check_range(s + ".supervised_weight_decay", o.weight_decay, 0, 1);
  o.augment = cfg.get_bool(s + ".supervised_augment", o.augment);
  return o;
}

std::int64_t supervised_steps(const supervised_options& o, std::int64_t n) {
  if (n < 2) return 0;
  const std::int64_t per_epoch = std::max<std::int64_t>(1, n / std::min(o.batch, n));
  return std::max(o.min_steps, o.epochs * per_epoch);
}

nlohmann::json supervised_morphology(const data::archive& archive,
                                     const kernels::augment_config& augment,
                                     model::resnet_options shape, const task_labels& labels,
                                     const split& sp, const std::vector<std::int64_t>& label_counts,
                                     const supervised_options& o, std::uint64_t seed,
                                     std::int64_t chunk) {
  if (!o.enabled()) throw error("supervised_morphology: eval.supervised_epochs is 0 (off)");
  const auto t0 = std::chrono::steady_clock::now();
  shape.head_dim = 0;  // features, then the classifier's own linear head
  const auto pool = static_cast<std::int64_t>(sp.train.size());
  const auto counts = curve_counts(label_counts, pool);
  // Crops of the training pool (ascending rows) and of the test rows, read once.
  std::vector<std::int64_t> pool_sorted(sp.train.begin(), sp.train.end());
  std::sort(pool_sorted.begin(), pool_sorted.end());
  const auto crops = crops_of_rows(archive, augment, pool_sorted, chunk);
  const auto test_crops = crops_of_rows(archive, augment, sp.test, chunk);
  std::vector<int> truth;
  for (auto r : sp.test) truth.push_back(labels.classes[static_cast<std::size_t>(r)]);

  nlohmann::json j, curve = nlohmann::json::array();
  for (const auto n : counts) {
    const std::vector<std::int64_t> rows(sp.train.begin(), sp.train.begin() + n);
    std::vector<std::int64_t> pos;
    std::vector<int> y;
    for (auto r : rows) {
      pos.push_back(std::lower_bound(pool_sorted.begin(), pool_sorted.end(), r) -
                    pool_sorted.begin());
      y.push_back(labels.classes[static_cast<std::size_t>(r)]);
    }
    nlohmann::json point = {{"labels", n}};
    const bool two = std::any_of(y.begin(), y.end(), [&](int c) { return c != y.front(); });
    if (two && n >= 2) {
      const auto r = train_and_predict(shape, crops, pos, rows, y, test_crops, labels.n_classes, o,
                                       seed, chunk);
      point["accuracy"] = accuracy(r.predicted, truth);
      point["steps"] = r.steps;
      log::info("eval: supervised baseline, {} labels, {} steps: accuracy {:.3f}", n, r.steps,
                point["accuracy"].get<double>());
      if (n == pool) {
        const auto pc = per_class_metrics(r.predicted, truth, labels.n_classes);
        j["precision"] = nan_to_null(pc.precision);
        j["recall"] = nan_to_null(pc.recall);
      }
    }
    if (n == pool) {
      if (point.contains("accuracy")) j["accuracy"] = point["accuracy"];
      j["n_train"] = n;
      j["n_test"] = sp.test.size();
    }
    curve.push_back(point);
  }
  j["epochs"] = o.epochs;
  j["min_steps"] = o.min_steps;
  j["batch"] = o.batch;
  j["lr"] = o.lr;
  j["curve"] = curve;
  log::info("eval: supervised baseline ({} points) took {:.0f} s", counts.size(),
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return j;
}

}  // namespace skyssl::eval
