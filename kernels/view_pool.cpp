#include "kernels/view_pool.hpp"

#include <stdexcept>

#include "skyssl/core/huge_pages.hpp"

namespace skyssl::kernels {

namespace {
// Only the pool refers to the tensor and to its storage: no batch, view or slice is alive.
bool unshared(const torch::Tensor& t) { return t.use_count() == 1 && t.storage().use_count() == 1; }
}  // namespace

two_views new_views(std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w,
                    const torch::TensorOptions& options) {
  const auto opts = options.dtype(torch::kFloat32);
  two_views p{torch::empty({n, c, h, w}, opts), torch::empty({n, c, h, w}, opts)};
  if (opts.device().is_cpu())
    for (const auto* t : {&p.view1, &p.view2})
      advise_huge_pages(t->data_ptr(), static_cast<std::size_t>(t->nbytes()));
  return p;
}

view_pool::view_pool(int max_pairs) : max_pairs_(max_pairs) {
  if (max_pairs < 0) throw std::invalid_argument("view_pool: max_pairs must be >= 0");
}

two_views view_pool::acquire(std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w,
                             const torch::TensorOptions& options) {
  for (auto& p : pairs_) {
    if (!unshared(p.view1) || !unshared(p.view2) || p.view1.device() != options.device()) continue;
    if (p.view1.sizes() != torch::IntArrayRef{n, c, h, w})  // a new batch shape (last batch, eval)
      p = new_views(n, c, h, w, options);
    return p;
  }
  two_views fresh = new_views(n, c, h, w, options);
  if (static_cast<int>(pairs_.size()) < max_pairs_) pairs_.push_back(fresh);
  return fresh;
}

}  // namespace skyssl::kernels
