#include "skyssl/eval/similarity_index.hpp"

#include <faiss/IndexFlat.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "skyssl/core/error.hpp"

namespace skyssl::eval {

void l2_normalise_rows(std::vector<float>& rows, int dim, std::int64_t first_row_id) {
  const std::int64_t n = static_cast<std::int64_t>(rows.size()) / dim;
  for (std::int64_t i = 0; i < n; ++i) {
    float* r = rows.data() + i * dim;
    double s = 0;
    for (int j = 0; j < dim; ++j) s += static_cast<double>(r[j]) * r[j];
    if (!(s > 0) || !std::isfinite(s))
      throw data_error(fmt::format("embedding row {} is zero or not finite; cannot normalise",
                                   first_row_id + i));
    const float inv = static_cast<float>(1.0 / std::sqrt(s));
    for (int j = 0; j < dim; ++j) r[j] *= inv;
  }
}

similarity_index::similarity_index(int dim)
    : dim_(dim), index_(std::make_unique<faiss::IndexFlatIP>(dim)) {
  if (dim <= 0) throw error(fmt::format("similarity_index: dimension must be > 0, got {}", dim));
}
similarity_index::~similarity_index() = default;
similarity_index::similarity_index(similarity_index&&) noexcept = default;
similarity_index& similarity_index::operator=(similarity_index&&) noexcept = default;

std::int64_t similarity_index::size() const { return index_->ntotal; }

void similarity_index::add(const float* rows, std::int64_t n) {
  std::vector<float> buf(rows, rows + n * dim_);
  l2_normalise_rows(buf, dim_, size());
  index_->add(n, buf.data());
}

neighbours similarity_index::search(const float* queries, std::int64_t n, std::int64_t k,
                                    std::int64_t chunk_rows) const {
  if (k <= 0 || k > size())
    throw error(
        fmt::format("similarity search: k = {} must be in [1, {}] (index size)", k, size()));
  neighbours out;
  out.k = k;
  out.ids.resize(n * k);
  out.scores.resize(n * k);
  for (std::int64_t b = 0; b < n; b += chunk_rows) {
    const std::int64_t m = std::min(chunk_rows, n - b);
    std::vector<float> q(queries + b * dim_, queries + (b + m) * dim_);
    l2_normalise_rows(q, dim_, b);
    // faiss::idx_t moved between FAISS versions; ntotal has had that type in all of them.
    std::vector<decltype(faiss::Index::ntotal)> ids(m * k);
    index_->search(m, q.data(), k, out.scores.data() + b * k, ids.data());
    std::copy(ids.begin(), ids.end(), out.ids.begin() + b * k);
  }
  return out;
}

}  // namespace skyssl::eval
