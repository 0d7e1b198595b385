#include "skyssl/eval/knn_probe.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "skyssl/core/error.hpp"
#include "skyssl/core/philox.hpp"
#include "skyssl/eval/knn.hpp"
#include "skyssl/eval/similarity_index.hpp"

namespace skyssl::eval {
namespace {

// Reference-set membership from a keyed hash of the global id: independent of row order and
// of how the archive was split into files.
bool in_reference_set(std::uint64_t seed, std::int64_t id, double fraction) {
  const auto d = rng::draw({seed, 0, static_cast<std::uint64_t>(id), 0, rng::user + 1}, 0);
  return rng::to_unit_float(d.v[0]) < fraction;
}

template <class T>
std::vector<T> pick(const std::vector<T>& v, const std::vector<std::int64_t>& rows) {
  std::vector<T> out;
  out.reserve(rows.size());
  for (auto r : rows) out.push_back(v[r]);
  return out;
}

}  // namespace

probe_report knn_probe(const torch::Tensor& features, const torch::Tensor& ids,
                       const std::vector<int>& morphology, const std::vector<double>& z_spec,
                       const probe_options& o) {
  const auto f = features.contiguous().to(torch::kFloat32);
  const std::int64_t n = f.size(0), d = f.size(1);
  if (ids.size(0) != n) throw data_error("k-NN probe: ids and features differ in length");
  std::vector<std::int64_t> train_rows, test_rows;
  const auto id = ids.contiguous().to(torch::kInt64);
  const auto* idp = id.data_ptr<std::int64_t>();
  for (std::int64_t i = 0; i < n; ++i)
    (in_reference_set(o.seed, idp[i], o.train_fraction) ? train_rows : test_rows).push_back(i);
  if (train_rows.size() < static_cast<std::size_t>(o.k) || test_rows.empty())
    throw data_error(
        fmt::format("k-NN probe: {} reference and {} test galaxies; need at least k = {} "
                    "references and one test",
                    train_rows.size(), test_rows.size(), o.k));

  const float* base = f.data_ptr<float>();
  auto gather_rows = [&](const std::vector<std::int64_t>& rows) {
    std::vector<float> out(rows.size() * d);
    for (std::size_t i = 0; i < rows.size(); ++i)
      std::copy(base + rows[i] * d, base + (rows[i] + 1) * d, out.begin() + i * d);
    return out;
  };
  similarity_index index(static_cast<int>(d));
  const auto train = gather_rows(train_rows);
  index.add(train.data(), static_cast<std::int64_t>(train_rows.size()));
  const auto test = gather_rows(test_rows);
  const auto nn = index.search(test.data(), static_cast<std::int64_t>(test_rows.size()), o.k);

  probe_report r;
  r.n_train = static_cast<std::int64_t>(train_rows.size());
  r.n_test = static_cast<std::int64_t>(test_rows.size());
  if (!morphology.empty()) {
    if (static_cast<std::int64_t>(morphology.size()) != n)
      throw data_error("k-NN probe: morphology labels and features differ in length");
    const int n_classes = *std::max_element(morphology.begin(), morphology.end()) + 1;
    const auto truth = pick(morphology, test_rows);
    r.morphology_accuracy =
        accuracy(knn_classify(nn, pick(morphology, train_rows), n_classes, o.temperature), truth);
    std::vector<std::int64_t> counts(n_classes);
    for (auto c : pick(morphology, train_rows)) ++counts[c];
    const int majority =
        static_cast<int>(std::max_element(counts.begin(), counts.end()) - counts.begin());
    r.morphology_majority = accuracy(std::vector<int>(truth.size(), majority), truth);
  }
  if (!z_spec.empty()) {
    if (static_cast<std::int64_t>(z_spec.size()) != n)
      throw data_error("k-NN probe: z_spec and features differ in length");
    const auto truth = pick(z_spec, test_rows);
    auto train_z = pick(z_spec, train_rows);
    r.photoz = compute_photoz_metrics(knn_regress(nn, train_z, o.temperature), truth);
    std::nth_element(train_z.begin(), train_z.begin() + train_z.size() / 2, train_z.end());
    r.photoz_median = compute_photoz_metrics(
        std::vector<double>(truth.size(), train_z[train_z.size() / 2]), truth);
  }
  return r;
}

}  // namespace skyssl::eval
