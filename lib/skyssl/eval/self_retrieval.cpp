#include "skyssl/eval/self_retrieval.hpp"

#include <fmt/format.h>
#include <torch/types.h>
#include <torch/nn/functional.h>
#include <torch/utils.h>

#include <limits>

#include "kernels/augment.hpp"
#include "skyssl/core/error.hpp"

namespace skyssl::eval {

retrieval_views make_retrieval_views(const data::archive& archive,
                                     const kernels::augment_config& augment,
                                     const std::vector<std::int64_t>& rows, std::uint64_t seed) {
  const auto m = static_cast<std::int64_t>(rows.size());
  if (m < 2) throw data_error(fmt::format("self-retrieval: {} galaxies, need at least 2", m));
  const int c = archive.channels();
  auto images = torch::empty({m, c, archive.height(), archive.width()});
  archive.read_images_rows(rows, images.data_ptr<float>());
  auto ebv = torch::zeros({m}, torch::kFloat32);
  auto psf = torch::full({m, c}, std::numeric_limits<float>::quiet_NaN(), torch::kFloat32);
  std::vector<double> col(rows.size());
  if (const auto name = archive.field_dataset("ebv"); !name.empty()) {
    archive.read_column_rows(name, rows, col.data());
    for (std::int64_t i = 0; i < m; ++i) ebv[i] = static_cast<float>(col[i]);
  }
  for (int b = 0; b < c; ++b) {
    const auto name = archive.field_dataset("psfsize_" + archive.bands().at(b));
    if (name.empty()) continue;
    archive.read_column_rows(name, rows, col.data());
    auto* p = psf.data_ptr<float>();
    for (std::int64_t i = 0; i < m; ++i) p[i * c + b] = static_cast<float>(col[i]);
  }
  retrieval_views v;
  v.ids = torch::tensor(rows, torch::kInt64);
  auto two = kernels::augment_two_views(augment, images, v.ids, ebv, psf, seed, retrieval_epoch);
  v.view1 = two.view1;
  v.view2 = two.view2;
  return v;
}

double retrieval_top1(const torch::Tensor& a, const torch::Tensor& b) {
  torch::NoGradGuard no_grad;
  namespace F = torch::nn::functional;
  // Centred on the gallery's mean first, as the k-NN probes centre on their training rows.
  const auto mean = b.to(torch::kFloat32).mean(0);
  const auto na = F::normalize(a.to(torch::kFloat32) - mean, F::NormalizeFuncOptions().dim(1));
  const auto nb = F::normalize(b.to(torch::kFloat32) - mean, F::NormalizeFuncOptions().dim(1));
  auto nearest = torch::mm(na, nb.t()).argmax(1);
  return nearest.eq(torch::arange(a.size(0), nearest.options()))
      .to(torch::kFloat64)
      .mean()
      .item<double>();
}

}  // namespace skyssl::eval
