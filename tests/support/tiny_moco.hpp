#pragma once
// The small MoCo set-up of the moco unit tests (tests/unit/moco): a ResNet-18 of width 8 on 3
// bands with a 16-d head, m 0.99, T 0.2, seed 7. Small enough for a step in milliseconds.
#include <cstdint>

#include "skyssl/model/resnet.hpp"
#include "skyssl/moco/options.hpp"

namespace skyssl::test {

inline model::resnet_options tiny_model() {
  model::resnet_options o;
  o.depth = 18;
  o.width = 8;
  o.in_channels = 3;
  return o;
}

inline moco::moco_options tiny_moco(std::int64_t K, std::int64_t bn_group = 0) {
  moco::moco_options o;
  o.K = K;
  o.m = 0.99;
  o.T = 0.2;
  o.dim = 16;
  o.bn_group = bn_group;
  o.seed = 7;
  return o;
}

}  // namespace skyssl::test
