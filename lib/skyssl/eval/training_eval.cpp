#include "skyssl/eval/training_eval.hpp"

#include <fmt/format.h>
#include <torch/types.h>
#include <torch/nn/functional.h>
#include <torch/serialize.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "skyssl/core/error.hpp"
#include "skyssl/core/durable_file.hpp"
#include "skyssl/core/log.hpp"
#include "skyssl/embed/embed.hpp"
#include "skyssl/eval/self_retrieval.hpp"

namespace skyssl::eval {

namespace {

// L2-normalised backbone features, in eval mode (encode restores the training flag).
torch::Tensor normalised_features(model::resnet& encoder, const torch::Tensor& images,
                                  std::int64_t chunk) {
  return torch::nn::functional::normalize(embed::encode(encoder, images, chunk, false).backbone,
                                          torch::nn::functional::NormalizeFuncOptions().dim(1));
}

}  // namespace

eval_result evaluate(model::resnet& encoder, const training_views& v, dist::communicator& comm,
                     const std::filesystem::path& run_dir) {
  const std::int64_t chunk = 64;
  auto gather = [&](const torch::Tensor& t) {
    auto d = t.to(encoder->parameters()[0].device()).contiguous();
    return comm.all_gather(d).cpu();
  };
  auto c = gather(normalised_features(encoder, v.center, chunk));
  auto e1 = gather(normalised_features(encoder, v.view1, chunk));
  auto e2 = gather(normalised_features(encoder, v.view2, chunk));
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
    replace_file(run_dir / "eval.json", j.dump(2) + "\n");
    // Serialised in memory first, then replaced whole (LibTorch's file writer would truncate
    // the old file at once and abort the process on a full disk).
    std::ostringstream emb;
    torch::save(std::vector<torch::Tensor>{ids, c}, emb);
    replace_file(run_dir / "embeddings.pt", emb.str());
    log::info("eval: view retrieval top-1 {:.3f} over {} galaxies (chance {:.4f}, {:.1f}x)", r.top1,
              r.count, r.chance, r.top1 / r.chance);
  }
  return r;
}

}  // namespace skyssl::eval
