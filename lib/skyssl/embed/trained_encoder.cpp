#include "skyssl/embed/trained_encoder.hpp"

#include <fmt/format.h>
#include <torch/types.h>

#include "skyssl/core/config.hpp"
#include "skyssl/core/error.hpp"
#include "skyssl/model/weights.hpp"

namespace skyssl::embed {

std::uint64_t run_seed(const config& cfg) {
  const std::int64_t seed = cfg.get_int("train.seed", 0);
  check_range("train.seed", static_cast<double>(seed), 0.0, 9.2e18);
  return static_cast<std::uint64_t>(seed);
}

std::filesystem::path run_weights(const std::filesystem::path& run_dir) {
  return model::run_weights_file(run_dir);
}

model::resnet load_encoder(const config& cfg, int channels, const std::filesystem::path& weights,
                           const std::string& config_source) {
  model::resnet m(model::run_encoder_options(cfg, channels));
  model::load_weights_file(*m, weights, fmt::format("the model in '{}'", config_source));
  m->eval();
  return m;
}

model::resnet random_encoder(const config& cfg, int channels) {
  // The trainer seeds LibTorch's generator with train.seed before building the model (a
  // documented departure from the counter-based RNG); the baseline is that step-0 encoder.
  torch::manual_seed(run_seed(cfg));
  model::resnet m(model::run_encoder_options(cfg, channels));
  m->eval();
  return m;
}

}  // namespace skyssl::embed

namespace skyssl::embed {

config run_config(const std::filesystem::path& run_dir, const config& over) {
  const auto file = run_dir / "config.toml";
  if (!std::filesystem::exists(file))
    throw error(fmt::format("'{}' not found: is '{}' a run directory written by skyssl-train?",
                            file.string(), run_dir.string()));
  config cfg = config::from_file(file);
  cfg.merge_over(over);
  return cfg;
}

}  // namespace skyssl::embed
