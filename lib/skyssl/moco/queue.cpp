#include "skyssl/moco/queue.hpp"

#include <fmt/format.h>
#include <torch/torch.h>

#include "skyssl/core/config.hpp"
#include "skyssl/core/error.hpp"
#include "skyssl/core/philox.hpp"
#include "skyssl/moco/options.hpp"

namespace skyssl::moco {

moco_options moco_options_from(const skyssl::config& cfg, const std::string& s,
                               std::uint64_t seed) {
  moco_options o;
  o.K = cfg.get_int(s + ".K", o.K);
  check_positive(s + ".K", static_cast<double>(o.K));
  o.m = cfg.get_double(s + ".m", o.m);
  check_range(s + ".m", o.m, 0.0, 1.0);
  o.T = cfg.get_double(s + ".T", o.T);
  check_positive(s + ".T", o.T);
  o.dim = cfg.get_int(s + ".dim", o.dim);
  check_positive(s + ".dim", static_cast<double>(o.dim));
  o.bn_group = cfg.get_int(s + ".bn_group", o.bn_group);
  if (o.bn_group < 0)
    throw config_error(
        fmt::format("{}.bn_group must be >= 0 (0 = per-rank batch), got {}", s, o.bn_group));
  if (cfg.has(s + ".shuffle_bn")) {
    std::string mode;
    try {
      mode = cfg.get_string(s + ".shuffle_bn", "gather");
    } catch (const config_error&) {  // a TOML boolean (configs written before the three modes)
      mode = cfg.get_bool(s + ".shuffle_bn", true) ? "gather" : "off";
    }
    o.shuffle_bn = parse_shuffle_mode(s + ".shuffle_bn", mode);
  } else {
    cfg.get_string(s + ".shuffle_bn", to_string(o.shuffle_bn));  // recorded in the resolved config
  }
  o.seed = seed;
  return o;
}

shuffle_mode parse_shuffle_mode(const std::string& key, const std::string& value) {
  if (value == "gather") return shuffle_mode::gather;
  if (value == "local") return shuffle_mode::local;
  if (value == "off") return shuffle_mode::off;
  throw config_error(
      fmt::format("{} must be \"gather\", \"local\" or \"off\", got \"{}\"", key, value));
}

const char* to_string(shuffle_mode m) {
  switch (m) {
    case shuffle_mode::gather:
      return "gather";
    case shuffle_mode::local:
      return "local";
    case shuffle_mode::off:
      return "off";
  }
  return "?";
}

void check_queue_fits(std::int64_t K, std::int64_t global_batch) {
  if (global_batch <= 0 || K % global_batch != 0)
    throw config_error(fmt::format(
        "moco.K = {} must be a multiple of the global batch (train.global_batch = {}): the queue "
        "is written one global batch at a time and must wrap exactly at K",
        K, global_batch));
}

std::int64_t resolve_bn_group(std::int64_t bn_group, std::int64_t local_batch) {
  if (bn_group == 0) return local_batch;
  if (local_batch % bn_group != 0)
    throw config_error(fmt::format(
        "moco.bn_group = {} must divide the per-rank batch ({} = train.global_batch / ranks)",
        bn_group, local_batch));
  return bn_group;
}

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
