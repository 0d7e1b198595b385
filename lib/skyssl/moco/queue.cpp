#include "skyssl/moco/queue.hpp"

#include <fmt/format.h>
#include <torch/types.h>
#include <torch/nn/functional.h>
#include <torch/utils.h>

#include "skyssl/core/error.hpp"
#include "skyssl/core/philox.hpp"
#include "skyssl/moco/options.hpp"

namespace skyssl::moco {

torch::Tensor initial_queue(std::int64_t K, std::int64_t dim, std::uint64_t seed) {
  auto q = torch::empty({K, dim}, torch::kFloat32);
  float* p = q.data_ptr<float>();
  const std::int64_t n = K * dim;
  const rng::stream_key key{seed, 0, 0, 0, rng::queue_init};
  // One Philox block gives 4 words = 4 normals.
  for (std::int64_t i = 0; i < n; i += 4) {
    const auto w = rng::draw(key, static_cast<std::uint32_t>(i / 4));
    float z[4];
    rng::to_normal2(w.v[0], w.v[1], z[0], z[1]);
    rng::to_normal2(w.v[2], w.v[3], z[2], z[3]);
    for (std::int64_t j = 0; j < 4 && i + j < n; ++j) p[i + j] = z[j];
  }
  return torch::nn::functional::normalize(
      q, torch::nn::functional::NormalizeFuncOptions().p(2).dim(1));
}

key_queue::key_queue(std::int64_t K, std::int64_t dim, std::uint64_t seed)
    : keys_(initial_queue(K, dim, seed)) {}

void key_queue::enqueue(const torch::Tensor& batch) {
  const std::int64_t B = batch.size(0), K = size();
  if (K % B != 0) check_queue_fits(K, B);
  if (batch.size(1) != keys_.size(1))
    throw error(
        fmt::format("queue enqueue: key dim {} != queue dim {}", batch.size(1), keys_.size(1)));
  torch::NoGradGuard no_grad;
  keys_.narrow(0, ptr_, B).copy_(batch.detach());
  ptr_ = (ptr_ + B) % K;
}

}  // namespace skyssl::moco
