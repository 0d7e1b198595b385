#pragma once
// The encoders a downstream tool evaluates: the query encoder a run trained
// (weights.safetensors, with its MoCo projection head), or a randomly initialised one of the same
// shape (the baseline). Shapes come from the run's config ([model], moco.dim); weights are checked
// by name and shape.
#include <cstdint>
#include <filesystem>

#include "skyssl/model/resnet.hpp"

namespace skyssl {
class config;
}

namespace skyssl::embed {

// The run's seed ([train] seed): what its random-init baseline and its splits are drawn from.
std::uint64_t run_seed(const config& cfg);

// The weights file of a run (run_dir/weights.safetensors, never the code-carrying weights.pt);
// error naming it and the command that writes it when absent.
std::filesystem::path run_weights(const std::filesystem::path& run_dir);

// model::run_encoder_options(cfg, channels) loaded from `weights`; an error naming the file and
// `config_source` when a name or shape does not match.
model::resnet load_encoder(const config& cfg, int channels, const std::filesystem::path& weights,
                           const std::string& config_source);

// Same shape, weights drawn as the trainer draws them at step 0 (train.seed).
model::resnet random_encoder(const config& cfg, int channels);

}  // namespace skyssl::embed

namespace skyssl::embed {

// The config a downstream tool works with: the run's resolved config.toml (what it was trained
// with), then `over` (the tool's --preset/--config/--set, already resolved) merged on top.
config run_config(const std::filesystem::path& run_dir, const config& over);

}  // namespace skyssl::embed
