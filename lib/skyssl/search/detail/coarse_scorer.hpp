#pragma once
// The IVF coarse step for a few queries at a time. Debian's FAISS is built for baseline x86-64,
// where IndexFlatIP scores a query against the list centroids with a scalar loop
// (fvec_inner_product_ref): a third of skyssl-serve's CPU at 10M rows and 8,192 lists. This
// keeps the centroids transposed (dim x nlist) and scores them with a loop the compiler
// vectorises (AVX2 where the CPU has it) that adds the products in FAISS's order, one dimension
// after another from zero, without fused multiply-adds: the scores, hence the lists visited and
// the neighbours found, are FAISS's own (test_coarse_scorer checks it bit for bit).
#include <faiss/IndexIVF.h>

#include <cstdint>
#include <memory>
#include <vector>

namespace skyssl::search::detail {

using list_id = decltype(faiss::Index::ntotal);  // faiss::idx_t moved between versions

class coarse_scorer {
 public:
  // A scorer for `ivf`'s centroids, or nullptr when its quantiser is not a flat inner-product
  // one (FAISS's own search is used then).
  static std::unique_ptr<coarse_scorer> for_index(const faiss::IndexIVF& ivf);

  // The `nprobe` best lists for one query (best first, ties by list number) and their scores,
  // as the quantiser's search(1, query, nprobe) would give them. nprobe in [1, nlist].
  void assign(const float* query, std::int64_t nprobe, list_id* lists, float* scores) const;

  // Score of every list for one query, in list order (nlist floats).
  void score_all(const float* query, float* out) const;

  std::int64_t nlist() const { return nlist_; }

 private:
  coarse_scorer(const float* centroids, int dim, std::int64_t nlist);
  int dim_;
  std::int64_t nlist_;
  std::vector<float> transposed_;  // dim rows of nlist scores' terms
};

}  // namespace skyssl::search::detail
