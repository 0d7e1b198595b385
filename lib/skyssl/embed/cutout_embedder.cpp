#include "skyssl/embed/cutout_embedder.hpp"

#include <fmt/format.h>
#include <torch/types.h>

#include "skyssl/core/config.hpp"
#include "skyssl/core/error.hpp"
#include "skyssl/embed/cutout.hpp"
#include "skyssl/model/weights.hpp"

namespace skyssl::embed {

cutout_embedder::cutout_embedder(const std::filesystem::path& run_dir, const embedding_reader& e)
    : run_dir_(run_dir), e_(e), encoder_(model::load_run_encoder(run_dir)) {
  const auto arch = fmt::format("resnet{}", encoder_->options().depth);
  if (!e.arch().empty() && e.arch().find(arch) == std::string::npos)
    throw data_error(fmt::format(
        "'{}' holds embeddings of a {} model, --run-dir '{}' is a {}: embed with the same run",
        e.path().string(), e.arch(), run_dir.string(), arch));
  const config cfg = config::from_file(run_dir / "config.toml");
  augment_ = kernels::augment_config_from(cfg, "augment");
}

int cutout_embedder::bands() const { return augment_.bands; }

torch::Tensor cutout_embedder::embed(const torch::Tensor& images, const std::string& space,
                                     const std::string& source) {
  torch::Tensor v;
  {
    std::lock_guard<std::mutex> g(forward_);
    v = embed_images(encoder_, images, augment_, space, source).contiguous();
  }
  const int d = e_.dim(space);
  if (v.size(1) != d)
    throw data_error(fmt::format(
        "--run-dir '{}' embeds to {} dimensions, /{} of '{}' has {}: an embedding file of "
        "another model",
        run_dir_.string(), v.size(1), space, e_.path().string(), d));
  return v;
}

}  // namespace skyssl::embed
