#include "skyssl/eval/pixel_baseline.hpp"

#include <fmt/format.h>
#include <torch/types.h>

#include <algorithm>

#include "skyssl/core/error.hpp"

namespace skyssl::eval {

torch::Tensor pixel_pca::project(const torch::Tensor& crops) const {
  torch::NoGradGuard no_grad;
  const auto x = crops.reshape({crops.size(0), -1}).to(torch::kFloat32);
  return torch::mm((x - mean) * inv_std, basis);
}

pixel_pca fit_pixel_pca(const torch::Tensor& crops, int components, std::int64_t max_rows) {
  torch::NoGradGuard no_grad;
  const std::int64_t n = std::min(crops.size(0), max_rows);
  if (n < 2) throw data_error(fmt::format("pixel baseline: {} crops, need at least 2", n));
  const auto x = crops.narrow(0, 0, n).reshape({n, -1}).to(torch::kFloat64);
  pixel_pca p;
  const auto mean = x.mean(0);
  const auto sd = x.std(0, /*unbiased=*/false);
  const auto inv = torch::where(sd > 1e-12, 1.0 / sd, torch::zeros_like(sd));
  const auto z = (x - mean) * inv;
  // Eigenvectors of the (n, n) Gram matrix give the principal axes without a (p, p) matrix.
  const auto k = std::min<std::int64_t>({components, n - 1, x.size(1)});
  auto [evals, evecs] = torch::linalg_eigh(torch::mm(z, z.t()));  // ascending
  const auto top_vals = evals.flip(0).narrow(0, 0, k).clamp_min(1e-12);
  const auto top_vecs = evecs.flip(1).narrow(1, 0, k);
  const auto basis = torch::mm(z.t(), top_vecs) / top_vals.sqrt();  // (p, k), unit columns
  p.mean = mean.to(torch::kFloat32);
  p.inv_std = inv.to(torch::kFloat32);
  p.basis = basis.to(torch::kFloat32).contiguous();
  return p;
}

}  // namespace skyssl::eval
