#pragma once
// A run's encoder loaded once, for embedding cutouts into the space of an embedding file:
// skyssl-search --cutout embeds one file per call, skyssl-serve one upload per request. The
// run must be of the architecture and dimension the embedding file was written with.
#include <torch/types.h>

#include <filesystem>
#include <mutex>
#include <string>

#include "kernels/augment_config.hpp"
#include "skyssl/embed/embedding_reader.hpp"
#include "skyssl/model/resnet.hpp"

namespace skyssl::embed {

class cutout_embedder {
 public:
  // Loads run_dir's encoder and [augment] (crop and bands of the validation view); data_error
  // naming both when the run is of another architecture than `e` was embedded with.
  cutout_embedder(const std::filesystem::path& run_dir, const embedding_reader& e);

  // images (N, C, H, W) -> raw vectors (N, dim of `space` in e); data_error naming `source`
  // when the images do not fit the encoder (bands, size) or the run embeds to another width.
  // Safe to call from several threads (one forward pass at a time).
  torch::Tensor embed(const torch::Tensor& images, const std::string& space,
                      const std::string& source);

  const std::filesystem::path& run_dir() const { return run_dir_; }
  const kernels::augment_config& augment() const { return augment_; }
  int bands() const;

 private:
  std::filesystem::path run_dir_;
  const embedding_reader& e_;
  model::resnet encoder_;
  kernels::augment_config augment_;
  std::mutex forward_;
};

}  // namespace skyssl::embed
