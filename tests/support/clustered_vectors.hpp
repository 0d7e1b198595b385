#pragma once
// Synthetic embeddings with structure, for search tests and benchmarks/search: row r belongs to
// one of `clusters` centres (random directions) plus isotropic Gaussian noise of `spread` times
// the centre's norm, so neighbours are close but not trivially so, unlike uniform vectors where
// every index looks good or bad alike. Any row is computed alone from the counter-based
// generator (seed, row): a benchmark regenerates slabs instead of keeping 10M rows.
#include <cmath>
#include <cstdint>
#include <vector>

#include "skyssl/core/philox.hpp"

namespace skyssl::test {

class clustered_vectors {
 public:
  clustered_vectors(int dim, std::int64_t clusters, float spread, std::uint64_t seed)
      : dim_(dim), clusters_(clusters), spread_(spread), seed_(seed) {
    centres_.resize(static_cast<std::size_t>(clusters) * dim);
    for (std::int64_t c = 0; c < clusters; ++c) normals(1, c, centres_.data() + c * dim, 1.0f);
  }
  int dim() const { return dim_; }
  std::int64_t cluster_of(std::int64_t row) const {
    const auto w = rng::draw({seed_, 0, static_cast<std::uint64_t>(row), 0, rng::user}, 0);
    return static_cast<std::int64_t>(w.v[0] % static_cast<std::uint32_t>(clusters_));
  }
  // Rows [first, first + n) into out (n * dim floats).
  void rows(std::int64_t first, std::int64_t n, float* out) const {
    for (std::int64_t i = 0; i < n; ++i) {
      float* r = out + i * dim_;
      normals(2, first + i, r, spread_);
      const float* c = centres_.data() + cluster_of(first + i) * dim_;
      for (int j = 0; j < dim_; ++j) r[j] += c[j];
    }
  }
  std::vector<float> rows(std::int64_t first, std::int64_t n) const {
    std::vector<float> v(static_cast<std::size_t>(n) * dim_);
    rows(first, n, v.data());
    return v;
  }

 private:
  // dim normals of standard deviation scale / sqrt(dim) (norm ~ scale) from stream (epoch, id).
  void normals(std::uint64_t epoch, std::int64_t id, float* out, float scale) const {
    const float s = scale / std::sqrt(static_cast<float>(dim_));
    for (int j = 0; j < dim_; j += 4) {
      const auto w = rng::draw({seed_, epoch, static_cast<std::uint64_t>(id), 0, rng::user},
                               static_cast<std::uint32_t>(j / 4));
      float n[4];
      rng::to_normal2(w.v[0], w.v[1], n[0], n[1]);
      rng::to_normal2(w.v[2], w.v[3], n[2], n[3]);
      for (int k = 0; k < 4 && j + k < dim_; ++k) out[j + k] = s * n[k];
    }
  }
  int dim_;
  std::int64_t clusters_;
  float spread_;
  std::uint64_t seed_;
  std::vector<float> centres_;
};

// Exact top-k by cosine, computed in double by brute force (the reference for the indexes).
inline void brute_force_topk(const std::vector<float>& base, const std::vector<float>& queries,
                             int dim, int k, std::vector<std::int64_t>& ids,
                             std::vector<double>& scores) {
  const std::int64_t n = static_cast<std::int64_t>(base.size()) / dim;
  const std::int64_t nq = static_cast<std::int64_t>(queries.size()) / dim;
  auto norm = [dim](const float* r) {
    double s = 0;
    for (int j = 0; j < dim; ++j) s += static_cast<double>(r[j]) * r[j];
    return std::sqrt(s);
  };
  std::vector<double> bn(n);
  for (std::int64_t i = 0; i < n; ++i) bn[i] = norm(base.data() + i * dim);
  ids.assign(nq * k, -1);
  scores.assign(nq * k, -2.0);
  for (std::int64_t q = 0; q < nq; ++q) {
    const float* qr = queries.data() + q * dim;
    const double qn = norm(qr);
    std::int64_t* id = ids.data() + q * k;
    double* sc = scores.data() + q * k;
    for (std::int64_t i = 0; i < n; ++i) {
      double dot = 0;
      for (int j = 0; j < dim; ++j) dot += static_cast<double>(qr[j]) * base[i * dim + j];
      const double s = dot / (qn * bn[i]);
      if (s <= sc[k - 1]) continue;
      int p = k - 1;
      while (p > 0 && sc[p - 1] < s) {
        sc[p] = sc[p - 1];
        id[p] = id[p - 1];
        --p;
      }
      sc[p] = s;
      id[p] = i;
    }
  }
}

// Share of the reference's k neighbours that `found` (same layout) also returns.
inline double recall_at_k(const std::vector<std::int64_t>& found,
                          const std::vector<std::int64_t>& truth, int k) {
  const std::size_t nq = truth.size() / k;
  std::int64_t hit = 0;
  for (std::size_t q = 0; q < nq; ++q)
    for (int a = 0; a < k; ++a)
      for (int b = 0; b < k; ++b)
        if (found[q * k + a] == truth[q * k + b]) {
          ++hit;
          break;
        }
  return static_cast<double>(hit) / static_cast<double>(nq * k);
}

}  // namespace skyssl::test
