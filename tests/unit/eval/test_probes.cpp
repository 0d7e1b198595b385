// The probe machinery against values computed by hand or by an independent route: per-class
// metrics, redshift bins, splits, the linear probe on a separable toy problem, the photo-z head
// on a toy redshift, the pixel PCA against LibTorch's SVD, and the JSON the probes produce.
#include "tests/support/torch_doctest.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>

#include "skyssl/core/error.hpp"
#include "skyssl/eval/classification_metrics.hpp"
#include "skyssl/eval/linear_probe.hpp"
#include "skyssl/eval/photoz_metrics.hpp"
#include "skyssl/eval/pixel_baseline.hpp"
#include "skyssl/eval/probes.hpp"
#include "skyssl/eval/self_retrieval.hpp"
#include "skyssl/eval/splits.hpp"

using namespace skyssl::eval;

TEST_CASE("per-class precision and recall by hand") {
  // truth     0 0 0 1 1 2
  // predicted 0 1 0 1 0 1
  // class 0: predicted 3 times (rows 0, 2, 4), 2 right -> precision 2/3; 3 members, 2 found
  // class 1: predicted 3 times (rows 1, 3, 5), 1 right -> 1/3; 2 members, 1 found -> 1/2
  // class 2: never predicted -> precision undefined; 1 member, 0 found -> recall 0
  const auto m = per_class_metrics({0, 1, 0, 1, 0, 1}, {0, 0, 0, 1, 1, 2}, 3);
  CHECK(m.precision[0] == doctest::Approx(2.0 / 3));
  CHECK(m.recall[0] == doctest::Approx(2.0 / 3));
  CHECK(m.precision[1] == doctest::Approx(1.0 / 3));
  CHECK(m.recall[1] == doctest::Approx(0.5));
  CHECK(std::isnan(m.precision[2]));
  CHECK(m.recall[2] == doctest::Approx(0.0));
  CHECK(m.support == std::vector<long>{3, 2, 1});
  CHECK_THROWS_AS(per_class_metrics({0, 3}, {0, 1}, 3), skyssl::data_error);
}

TEST_CASE("redshift bins of the SDSS head: 180 over [0, 0.4)") {
  const redshift_bins b;
  CHECK(b.bin_of(0.0) == 0);
  CHECK(b.bin_of(0.4 / 180 * 17.5) == 17);
  CHECK(b.bin_of(0.3999) == 179);
  CHECK(b.bin_of(0.7) == 179);  // clamped
  CHECK(b.bin_of(-0.1) == 0);
  CHECK(b.centre(0) == doctest::Approx(0.4 / 360));
  CHECK(b.centre(179) == doctest::Approx(0.4 - 0.4 / 360));
}

TEST_CASE("splits: disjoint, complete, deterministic, nested, independent of row order") {
  std::vector<std::int64_t> rows(1000);
  std::iota(rows.begin(), rows.end(), 0);
  split_options o;
  o.seed = 7;
  o.test_fraction = 0.25;
  const auto s = make_split(rows, o);
  CHECK(s.test.size() == 250);
  CHECK(s.train.size() == 750);
  std::set<std::int64_t> all(s.test.begin(), s.test.end());
  all.insert(s.train.begin(), s.train.end());
  CHECK(all.size() == 1000);
  CHECK(std::is_sorted(s.test.begin(), s.test.end()));
  // The same rows given in another order give the same split.
  auto shuffled = rows;
  std::reverse(shuffled.begin(), shuffled.end());
  const auto s2 = make_split(shuffled, o);
  CHECK(s2.test == s.test);
  CHECK(s2.train == s.train);
  // A random subset: the first 100 of the pool are not the 100 lowest rows.
  std::vector<std::int64_t> head(s.train.begin(), s.train.begin() + 100);
  CHECK(*std::max_element(head.begin(), head.end()) > 500);
  // Another seed, another split; a count overrides the fraction.
  o.seed = 8;
  CHECK(make_split(rows, o).test != s.test);
  o.test_count = 10;
  CHECK(make_split(rows, o).test.size() == 10);
  o.test_count = 1000;
  CHECK_THROWS_AS(make_split(rows, o), skyssl::data_error);
  CHECK(curve_counts({64, 128, 2000, 64, 0}, 500) == std::vector<std::int64_t>{64, 128, 500});
}

namespace {
// Three Gaussian blobs in 6-D separated along dims 0 and 1 only; dims 2..5 are noise of a
// larger scale (standardisation must not drown the signal) and dim 5 is constant.
struct toy {
  torch::Tensor x;
  std::vector<int> y;
};
toy blobs(int n, std::uint64_t seed) {
  torch::manual_seed(seed);
  toy t;
  t.x = torch::randn({n, 6}, torch::kFloat64);
  t.x.narrow(1, 0, 2).mul_(0.3);
  t.x.narrow(1, 2, 3).mul_(10.0);
  t.x.select(1, 5).fill_(4.0);
  const double cx[3] = {0, 3, -3}, cy[3] = {3, -2, -2};
  for (int i = 0; i < n; ++i) {
    const int c = i % 3;
    t.y.push_back(c);
    t.x[i][0] += cx[c];
    t.x[i][1] += cy[c];
  }
  return t;
}
}  // namespace

TEST_CASE("linear probe recovers a linearly separable toy problem") {
  const auto train = blobs(300, 1), test = blobs(300, 2);
  const auto m = fit_logistic(train.x, train.y, 3, {});
  CHECK(accuracy(m.predict(test.x), test.y) == doctest::Approx(1.0));
  // Probabilities are a distribution per row, confident on this easy problem.
  const auto p = m.probabilities(test.x);
  CHECK(torch::allclose(p.sum(1), torch::ones({300}, torch::kFloat64)));
  CHECK(std::get<0>(p.max(1)).min().item<double>() > 0.9);
  // The signal dims carry the weight, the constant dim none at all.
  const auto w = m.weight.abs().sum(1);
  CHECK(w[0].item<double>() > 3 * w[2].item<double>());
  CHECK(w[5].item<double>() == 0.0);
  // Labels unrelated to the blobs leave nothing to learn: test accuracy near chance (1/3).
  std::vector<int> shuffled(train.y.size());
  for (std::size_t i = 0; i < shuffled.size(); ++i) shuffled[i] = static_cast<int>((i * 7 / 3) % 3);
  const auto chance = fit_logistic(train.x, shuffled, 3, {});
  CHECK(accuracy(chance.predict(test.x), test.y) < 0.5);
  CHECK_THROWS_AS(fit_logistic(train.x, std::vector<int>(300, 3), 3, {}), skyssl::data_error);
  CHECK_THROWS_AS(fit_logistic(train.x, std::vector<int>(10, 0), 3, {}), skyssl::data_error);
}

TEST_CASE("photo-z head: a redshift that is a function of the features") {
  torch::manual_seed(3);
  auto x = torch::rand({2000, 3}, torch::kFloat64);
  std::vector<double> z(2000);
  for (int i = 0; i < 2000; ++i) z[i] = 0.05 + 0.3 * x[i][0].item<double>();
  const auto xt = x.narrow(0, 0, 1500), xs = x.narrow(0, 1500, 500);
  const std::vector<double> zt(z.begin(), z.begin() + 1500), zs(z.begin() + 1500, z.end());
  logistic_options o;
  o.l2 = 1e-4;
  const auto pred = fit_predict_photoz_head(xt, zt, xs, redshift_bins{}, o);
  const auto m = compute_photoz_metrics(pred, zs);
  MESSAGE("toy photo-z head sigma_MAD " << m.sigma_mad);
  CHECK(m.sigma_mad < 0.02);  // the redshift range is 0.3 wide; bins are 0.0022
  CHECK(std::fabs(m.bias) < 0.01);
  // The median-redshift predictor on the same rows is far worse.
  CHECK(compute_photoz_metrics(std::vector<double>(500, 0.2), zs).sigma_mad > 0.05);
}

TEST_CASE("pixel PCA: orthonormal axes spanning the leading components of an SVD") {
  torch::manual_seed(4);
  // 200 'images' of 2x4x4 = 32 pixels with a 3-D signal subspace plus small noise.
  const auto basis = torch::randn({3, 32});
  const auto crops = (torch::mm(torch::randn({200, 3}) * torch::tensor({5.0f, 3.0f, 2.0f}), basis) +
                      0.01 * torch::randn({200, 32}))
                         .reshape({200, 2, 4, 4});
  const auto p = fit_pixel_pca(crops, 3);
  CHECK(p.basis.sizes() == torch::IntArrayRef{32, 3});
  const auto gram = torch::mm(p.basis.t(), p.basis);
  CHECK(torch::allclose(gram, torch::eye(3), 1e-3, 1e-3));
  // Same subspace as the right singular vectors of the standardised data.
  auto x = crops.reshape({200, 32}).to(torch::kFloat64);
  x = (x - x.mean(0)) / x.std(0, false);
  const auto v = std::get<2>(torch::linalg_svd(x, false)).narrow(0, 0, 3).t().to(torch::kFloat32);
  const auto overlap = torch::mm(v.t(), p.basis);  // 3x3, orthogonal when the spans agree
  CHECK(torch::allclose(torch::mm(overlap, overlap.t()), torch::eye(3), 1e-3, 1e-3));
  // Scores are centred and come out in decreasing variance.
  const auto s = p.project(crops);
  CHECK(s.mean(0).abs().max().item<float>() < 1e-3);
  const auto var = s.var(0);
  CHECK(var[0].item<float>() > var[1].item<float>());
  CHECK(var[1].item<float>() > var[2].item<float>());
}

TEST_CASE("retrieval top-1 by hand") {
  // a's rows 0 and 1 find their own rows of b; row 2 is nearest b's row 0.
  const auto a = torch::tensor({1.0f, 0.0f, 0.0f, 1.0f, 0.9f, 0.1f}).reshape({3, 2});
  const auto b = torch::tensor({2.0f, 0.0f, 0.0f, 3.0f, -1.0f, -1.0f}).reshape({3, 2});
  CHECK(retrieval_top1(a, b) == doctest::Approx(2.0 / 3));
}

TEST_CASE("probe_encoder: the report's shape and counts on a toy problem") {
  const auto t = blobs(600, 5);
  task_labels labels;
  labels.class_field = "morphology";
  labels.classes = t.y;
  labels.n_classes = 3;
  for (int i = 0; i < 600; ++i) labels.class_rows.push_back(i);
  labels.z_field = "z_spec";
  for (int i = 0; i < 600; ++i) {
    labels.z.push_back(0.1 + 0.05 * t.y[i]);
    labels.z_rows.push_back(i);
  }
  probe_config c;
  c.label_counts = {30, 90, 10000};
  c.k = 5;
  const auto splits = make_task_splits(labels, c.split);
  nlohmann::json preds;
  const auto j = probe_encoder(t.x, labels, splits, c, &preds);
  const auto& m = j["morphology"];
  CHECK(m["n_train"] == 300);
  CHECK(m["n_test"] == 300);
  CHECK(m["accuracy"].get<double>() == doctest::Approx(1.0));
  CHECK(m["precision"].size() == 3);
  REQUIRE(m["curve"].size() == 3);  // 30, 90, all (10000 does not fit)
  CHECK(m["curve"][0]["labels"] == 30);
  CHECK(m["curve"][2]["labels"] == 300);
  CHECK(m["curve"][2]["accuracy"] == m["accuracy"]);
  const auto& z = j["photo_z"];
  CHECK(z["sigma_mad"].get<double>() < 0.01);
  CHECK(z.contains("head_sigma_mad"));
  CHECK(z.contains("outlier_frac_0.15"));
  CHECK(preds["z_knn"].size() == 300);
  // Trivial baselines on the same test rows.
  const auto b = trivial_baselines(labels, splits);
  CHECK(b["morphology"]["accuracy"].get<double>() < 0.5);
  CHECK(b["photo_z"]["sigma_mad"].get<double>() >= 0.0);
}
