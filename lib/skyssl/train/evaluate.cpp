#include "skyssl/train/evaluate.hpp"

#include <fmt/format.h>
#include <torch/torch.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "skyssl/core/error.hpp"
#include "skyssl/core/log.hpp"

namespace skyssl::train {

torch::Tensor embed(model::resnet& encoder, const torch::Tensor& images, std::int64_t chunk) {
  torch::NoGradGuard no_grad;
  const bool was_training = encoder->is_training();
  encoder->eval();
  const auto device = encoder->parameters()[0].device();
  std::vector<torch::Tensor> out;
  for (std::int64_t s = 0; s < images.size(0); s += chunk) {
    auto x = images.narrow(0, s, std::min(chunk, images.size(0) - s)).to(device);
    out.push_back(torch::nn::functional::normalize(
        encoder->features(x), torch::nn::functional::NormalizeFuncOptions().dim(1)));
  }
  encoder->train(was_training);
  return torch::cat(out).cpu();
}

double retrieval_top1(const torch::Tensor& a, const torch::Tensor& b) {
  auto nearest = torch::mm(a, b.t()).argmax(1);
  return nearest.eq(torch::arange(a.size(0), nearest.options()))
      .to(torch::kFloat64)
      .mean()
      .item<double>();
}

eval_result evaluate(model::resnet& encoder, const eval_views& v, dist::communicator& comm,
                     const std::filesystem::path& run_dir) {
  const std::int64_t chunk = 64;
  auto gather = [&](const torch::Tensor& t) {
    auto d = t.to(encoder->parameters()[0].device()).contiguous();
    return comm.all_gather(d).cpu();
  };
  auto c = gather(embed(encoder, v.center, chunk));
  auto e1 = gather(embed(encoder, v.view1, chunk));
  auto e2 = gather(embed(encoder, v.view2, chunk));
  auto ids = gather(v.ids);
  eval_result r;
  r.count = ids.size(0);
  r.chance = 1.0 / static_cast<double>(r.count);
  r.top1 = retrieval_top1(e1, e2);
  if (comm.rank() == 0) {
    nlohmann::json j = {{"count", r.count},
                        {"view_retrieval_top1", r.top1},
                        {"chance", r.chance},
                        {"feature_dim", c.size(1)}};
    std::ofstream out(run_dir / "eval.json");
    out << j.dump(2) << '\n';
    if (!out) throw error(fmt::format("cannot write '{}'", (run_dir / "eval.json").string()));
    torch::save(std::vector<torch::Tensor>{ids, c}, (run_dir / "embeddings.pt").string());
    log::info("eval: view retrieval top-1 {:.3f} over {} galaxies (chance {:.4f}, {:.1f}x)", r.top1,
              r.count, r.chance, r.top1 / r.chance);
  }
  return r;
}

}  // namespace skyssl::train
