#include "kernels/view_pool.hpp"

#include <stdexcept>

namespace skyssl::kernels {

namespace {
// Only the pool refers to the tensor and to its storage: no batch, view or slice is alive.
bool unshared(const torch::Tensor& t) { return t.use_count() == 1 && t.storage().use_count() == 1; }
}  // namespace

view_pool::view_pool(int max_pairs) : max_pairs_(max_pairs) {
  if (max_pairs < 0) throw std::invalid_argument("view_pool: max_pairs must be >= 0");
}

two_views view_pool::acquire(std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w,
                             const torch::TensorOptions& options) {
  const auto opts = options.dtype(torch::kFloat32);
  const std::vector<std::int64_t> shape{n, c, h, w};
  for (auto& p : pairs_) {
    if (!unshared(p.view1) || !unshared(p.view2) || p.view1.device() != opts.device()) continue;
    if (p.view1.sizes() != torch::IntArrayRef(shape)) {  // a new batch shape (last batch, eval)
      p.view1 = torch::empty(shape, opts);
      p.view2 = torch::empty(shape, opts);
    }
    return p;
  }
  two_views fresh{torch::empty(shape, opts), torch::empty(shape, opts)};
  if (static_cast<int>(pairs_.size()) < max_pairs_) pairs_.push_back(fresh);
  return fresh;
}

}  // namespace skyssl::kernels
