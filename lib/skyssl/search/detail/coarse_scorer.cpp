#include "skyssl/search/detail/coarse_scorer.hpp"

#include <faiss/IndexFlat.h>

namespace skyssl::search::detail {
namespace {

// out[j] = sum over i of q[i] * t[i][j], the terms added in order of i from 0: FAISS's
// fvec_inner_product_ref for each centroid j, vectorised across centroids instead of across
// dimensions. Compiled with -O3 and -ffp-contract=off (search/CMakeLists.txt); the AVX2 clone is
// picked at load time where the CPU has it.
__attribute__((target_clones("avx2", "default"))) void score_columns(const float* __restrict t,
                                                                     const float* __restrict q,
                                                                     int dim, std::int64_t n,
                                                                     float* __restrict out) {
  for (std::int64_t j = 0; j < n; ++j) out[j] = 0.0f;
  for (int i = 0; i < dim; ++i) {
    const float qi = q[i];
    const float* __restrict row = t + static_cast<std::int64_t>(i) * n;
    for (std::int64_t j = 0; j < n; ++j) out[j] += qi * row[j];
  }
}

}  // namespace

std::unique_ptr<coarse_scorer> coarse_scorer::for_index(const faiss::IndexIVF& ivf) {
  const auto* flat = dynamic_cast<const faiss::IndexFlat*>(ivf.quantizer);
  if (!flat || flat->metric_type != faiss::METRIC_INNER_PRODUCT ||
      flat->ntotal != static_cast<list_id>(ivf.nlist) || flat->d != ivf.d)
    return nullptr;
  return std::unique_ptr<coarse_scorer>(
      new coarse_scorer(flat->get_xb(), static_cast<int>(flat->d), flat->ntotal));
}

coarse_scorer::coarse_scorer(const float* centroids, int dim, std::int64_t nlist)
    : dim_(dim), nlist_(nlist), transposed_(static_cast<std::size_t>(dim) * nlist) {
  for (std::int64_t j = 0; j < nlist; ++j)
    for (int i = 0; i < dim; ++i) transposed_[i * nlist + j] = centroids[j * dim + i];
}

void coarse_scorer::score_all(const float* query, float* out) const {
  score_columns(transposed_.data(), query, dim_, nlist_, out);
}

void coarse_scorer::assign(const float* query, std::int64_t nprobe, list_id* lists,
                           float* scores) const {
  std::vector<float> all(static_cast<std::size_t>(nlist_));
  score_all(query, all.data());
  // One pass keeping the best nprobe so far, best first. Lists come in increasing number, so
  // a later list displaces a kept one only with a strictly higher score: ties go to the lower
  // number.
  std::int64_t kept = 0;
  for (std::int64_t j = 0; j < nlist_; ++j) {
    const float s = all[j];
    if (kept == nprobe && !(s > scores[kept - 1])) continue;
    std::int64_t p = kept < nprobe ? kept++ : nprobe - 1;
    for (; p > 0 && s > scores[p - 1]; --p) {
      scores[p] = scores[p - 1];
      lists[p] = lists[p - 1];
    }
    scores[p] = s;
    lists[p] = j;
  }
}

}  // namespace skyssl::search::detail
