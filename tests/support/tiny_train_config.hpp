#pragma once
// The tiny training run of the input tests (tests/unit/train, tests/mpi/train): a ResNet-18 of
// width 4 on 16-pixel crops of 24-pixel DECaLS-like images, a 64-key queue of 16-d keys,
// global batch 16, seed 7, no checkpoints; over the archive at `data`, with BatchNorm groups of
// `bn_group` images and `max_steps` steps, then the test's `sets` (config overrides).
#include <fmt/format.h>

#include <filesystem>
#include <string>
#include <vector>

#include "skyssl/core/config.hpp"

namespace skyssl::test {

inline config tiny_train_config(const std::filesystem::path& data, int bn_group, int max_steps,
                                const std::vector<std::string>& sets = {}) {
  auto cfg = config::from_string(fmt::format(R"(
[augment]
preset = "decals"
input_size = 24
crop = 16
jitter_max = 2
[model]
arch = "resnet18"
width = 4
[moco]
K = 64
m = 0.9
dim = 16
bn_group = {}
[train]
epochs = 1
max_steps = {}
global_batch = 16
base_lr = 0.1
warmup_epochs = 0
seed = 7
log_every = 1
threads = 1
[checkpoint]
every_minutes = 0
)",
                                             bn_group, max_steps),
                                 "test");
  cfg.apply_override(fmt::format("data.path=\"{}\"", data.string()));
  for (const auto& s : sets) cfg.apply_override(s);
  return cfg;
}

}  // namespace skyssl::test
