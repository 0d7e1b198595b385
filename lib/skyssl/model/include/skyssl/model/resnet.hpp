#pragma once
// ResNet-18/34/50 (and narrow variants) whose state_dict keys are torchvision's
// (conv1, bn1, layer1.0.conv1, ..., layerN.0.downsample.0/1), so weights move between skyssl and
// PyTorch by name. The classifier `fc` of torchvision is replaced, as in MoCo v2, by the
// optional projection head d -> d -> dim (Linear, ReLU, Linear) registered under the same name
// `fc` (keys fc.0.*, fc.2.*).
#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>
#include <optional>
#include <string>

namespace skyssl {
class config;
}

namespace skyssl::model {

// The MoCo projection head's output size when the config does not say (moco.dim's default;
// moco_options and every loader of a run's encoder use this one value).
constexpr std::int64_t default_projection_dim = 128;

struct resnet_options {
  int depth = 18;          // 18, 34 or 50
  int width = 64;          // channels of the first stage (64 = torchvision)
  int in_channels = 3;     // any number of bands
  bool sdss_stem = false;  // 7x7 stride 1, no max-pool (Hayat et al. 2021)
  int head_dim = 0;        // 0: no head; else MoCo v2 MLP d -> d -> head_dim
};

// Reads section `section` (keys arch = "resnet18|resnet34|resnet50", width, stem =
// "standard|sdss"); in_channels is the archive's band count, passed by the caller. head_dim is
// left 0 (the MoCo engine sets it from moco.dim).
resnet_options resnet_options_from(const skyssl::config& cfg, const std::string& section,
                                   int in_channels);

class resnet_impl : public torch::nn::Module {
 public:
  explicit resnet_impl(const resnet_options& o);
  // Pooled backbone features (N, feature_dim()).
  torch::Tensor features(const torch::Tensor& x);
  // Head output when a head is configured, else the features.
  torch::Tensor forward(const torch::Tensor& x);
  // Mixed precision for forward() and features() (autocast.hpp): empty = fp32. Their outputs
  // are fp32 whatever runs inside.
  void set_autocast(std::optional<c10::ScalarType> dtype) { autocast_ = dtype; }
  std::optional<c10::ScalarType> autocast() const { return autocast_; }
  // Multiply-accumulates of one forward pass of one (in_channels, h, w) image through the
  // convolutions and the head's linear layers, from the modules' own shapes (kernel, stride,
  // padding, channels). BN, ReLU, pooling and the residual adds are not counted (<1%).
  // A training step's FLOPs are about 2 x 3 x this (forward + backward ~ 2 x forward).
  std::int64_t forward_macs(std::int64_t h, std::int64_t w) const;
  std::int64_t feature_dim() const { return feature_dim_; }
  std::int64_t output_dim() const { return opts_.head_dim > 0 ? opts_.head_dim : feature_dim_; }
  const resnet_options& options() const { return opts_; }

 private:
  torch::Tensor trunk(const torch::Tensor& x);
  resnet_options opts_;
  std::optional<c10::ScalarType> autocast_;
  std::int64_t feature_dim_ = 0;
  torch::nn::Conv2d conv1{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr};
  torch::nn::Sequential layer1{nullptr}, layer2{nullptr}, layer3{nullptr}, layer4{nullptr};
  torch::nn::Sequential fc{nullptr};
};
TORCH_MODULE_IMPL(resnet, resnet_impl);

// Number of elements over all parameters (not buffers).
std::int64_t parameter_count(const torch::nn::Module& m);

}  // namespace skyssl::model
