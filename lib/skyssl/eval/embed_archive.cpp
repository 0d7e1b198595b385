#include "skyssl/eval/embed_archive.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>

#include "kernels/augment.hpp"
#include "skyssl/core/log.hpp"

namespace skyssl::eval {

embedding_set embed_archive(model::resnet& encoder, const data::archive& archive,
                            const kernels::augment_config& augment, std::int64_t chunk,
                            std::int64_t limit) {
  torch::NoGradGuard no_grad;
  encoder->eval();
  const std::int64_t n = limit > 0 ? std::min(limit, archive.size()) : archive.size();
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<torch::Tensor> parts;
  auto batch = torch::empty({chunk, archive.channels(), archive.height(), archive.width()});
  double next_report = 10.0;
  for (std::int64_t s = 0; s < n; s += chunk) {
    const std::int64_t m = std::min(chunk, n - s);
    auto images = batch.narrow(0, 0, m);
    archive.read_images(s, m, images.data_ptr<float>());
    auto crops = kernels::center_crop(augment, images);
    parts.push_back(torch::nn::functional::normalize(
        encoder->features(crops), torch::nn::functional::NormalizeFuncOptions().dim(1)));
    const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (t > next_report) {
      log::info("embedding: {}/{} galaxies, {:.0f} galaxies/s", s + m, n, (s + m) / t);
      next_report = t + 10.0;
    }
  }
  return {torch::arange(n, torch::kInt64), torch::cat(parts)};
}

}  // namespace skyssl::eval
