#include "skyssl/model/resnet.hpp"

#include <fmt/format.h>
#include <torch/types.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/module.h>

#include <array>
#include <variant>
#include <vector>

#include "skyssl/core/config.hpp"
#include "skyssl/core/error.hpp"
#include "skyssl/model/autocast.hpp"

namespace skyssl::model {
namespace {

namespace nn = torch::nn;

nn::Conv2d conv(std::int64_t in, std::int64_t out, std::int64_t k, std::int64_t stride,
                std::int64_t pad) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, k).stride(stride).padding(pad).bias(false));
}

// torchvision's shortcut when a block changes shape: 1x1 conv (with the stride) + BN, keys
// downsample.0 / downsample.1.
nn::Sequential projection(std::int64_t in, std::int64_t out, std::int64_t stride) {
  return nn::Sequential(conv(in, out, 1, stride, 0), nn::BatchNorm2d(out));
}

// torchvision BasicBlock: conv3x3-bn-relu-conv3x3-bn (+ downsample) -relu.
class basic_block_impl : public nn::Module {
 public:
  static constexpr std::int64_t expansion = 1;
  basic_block_impl(std::int64_t in, std::int64_t planes, std::int64_t stride) {
    conv1 = register_module("conv1", conv(in, planes, 3, stride, 1));
    bn1 = register_module("bn1", nn::BatchNorm2d(planes));
    conv2 = register_module("conv2", conv(planes, planes, 3, 1, 1));
    bn2 = register_module("bn2", nn::BatchNorm2d(planes));
    if (stride != 1 || in != planes * expansion)
      downsample = register_module("downsample", projection(in, planes * expansion, stride));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto y = torch::relu(bn1(conv1(x)));
    y = bn2(conv2(y));
    return torch::relu(y + (downsample ? downsample->forward(x) : x));
  }
  nn::Conv2d conv1{nullptr}, conv2{nullptr};
  nn::BatchNorm2d bn1{nullptr}, bn2{nullptr};
  nn::Sequential downsample{nullptr};
};
TORCH_MODULE_IMPL(basic_block, basic_block_impl);

// torchvision Bottleneck (v1.5: the stride sits on the 3x3 conv).
class bottleneck_impl : public nn::Module {
 public:
  static constexpr std::int64_t expansion = 4;
  bottleneck_impl(std::int64_t in, std::int64_t planes, std::int64_t stride) {
    conv1 = register_module("conv1", conv(in, planes, 1, 1, 0));
    bn1 = register_module("bn1", nn::BatchNorm2d(planes));
    conv2 = register_module("conv2", conv(planes, planes, 3, stride, 1));
    bn2 = register_module("bn2", nn::BatchNorm2d(planes));
    conv3 = register_module("conv3", conv(planes, planes * expansion, 1, 1, 0));
    bn3 = register_module("bn3", nn::BatchNorm2d(planes * expansion));
    if (stride != 1 || in != planes * expansion)
      downsample = register_module("downsample", projection(in, planes * expansion, stride));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto y = torch::relu(bn1(conv1(x)));
    y = torch::relu(bn2(conv2(y)));
    y = bn3(conv3(y));
    return torch::relu(y + (downsample ? downsample->forward(x) : x));
  }
  nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, bn3{nullptr};
  nn::Sequential downsample{nullptr};
};
TORCH_MODULE_IMPL(bottleneck, bottleneck_impl);

template <class Block>
nn::Sequential make_layer(std::int64_t& in, std::int64_t planes, int blocks, std::int64_t stride) {
  nn::Sequential seq;
  for (int b = 0; b < blocks; ++b) {
    seq->push_back(Block(in, planes, b == 0 ? stride : 1));
    in = planes * Block::Impl::expansion;
  }
  return seq;
}

std::array<int, 4> stage_blocks(int depth) {
  switch (depth) {
    case 18:
      return {2, 2, 2, 2};
    case 34:
    case 50:
      return {3, 4, 6, 3};
    default:
      throw config_error(fmt::format("model: depth must be 18, 34 or 50, got {}", depth));
  }
}

}  // namespace

resnet_options resnet_options_from(const skyssl::config& cfg, const std::string& section,
                                   int in_channels) {
  resnet_options o;
  const std::string arch = cfg.get_string(section + ".arch", "resnet18");
  if (arch == "resnet18")
    o.depth = 18;
  else if (arch == "resnet34")
    o.depth = 34;
  else if (arch == "resnet50")
    o.depth = 50;
  else
    throw config_error(fmt::format("{}.arch must be 'resnet18', 'resnet34' or 'resnet50', got '{}'",
                                   section, arch));
  o.width = static_cast<int>(cfg.get_int(section + ".width", 64));
  check_positive(section + ".width", o.width);
  const std::string stem = cfg.get_string(section + ".stem", "standard");
  if (stem != "standard" && stem != "sdss")
    throw config_error(
        fmt::format("{}.stem must be 'standard' or 'sdss', got '{}'", section, stem));
  o.sdss_stem = stem == "sdss";
  // The head's output size is moco.dim: the caller sets head_dim (0 here: backbone only).
  o.in_channels = in_channels;
  return o;
}

resnet_impl::resnet_impl(const resnet_options& o) : opts_(o) {
  const auto blocks = stage_blocks(o.depth);
  if (o.in_channels < 1 || o.width < 1)
    throw config_error(fmt::format("model: in_channels ({}) and width ({}) must be positive",
                                   o.in_channels, o.width));
  const std::int64_t w = o.width;
  conv1 = register_module(
      "conv1", o.sdss_stem ? conv(o.in_channels, w, 7, 1, 3) : conv(o.in_channels, w, 7, 2, 3));
  bn1 = register_module("bn1", nn::BatchNorm2d(w));
  std::int64_t in = w;
  auto layer = [&](std::int64_t planes, int n, std::int64_t stride) {
    return o.depth == 50 ? make_layer<bottleneck>(in, planes, n, stride)
                         : make_layer<basic_block>(in, planes, n, stride);
  };
  layer1 = register_module("layer1", layer(w, blocks[0], 1));
  layer2 = register_module("layer2", layer(2 * w, blocks[1], 2));
  layer3 = register_module("layer3", layer(4 * w, blocks[2], 2));
  layer4 = register_module("layer4", layer(8 * w, blocks[3], 2));
  feature_dim_ = in;
  if (o.head_dim > 0) {
    fc = register_module(
        "fc", nn::Sequential(nn::Linear(in, in), nn::ReLU(), nn::Linear(in, o.head_dim)));
  }
  // torchvision's initialisation: He (fan_out) for convs, BN weight 1 / bias 0. Linear layers
  // keep LibTorch's default, which is PyTorch's.
  for (auto& m : modules(/*include_self=*/false)) {
    if (auto* c = m->as<nn::Conv2d>()) {
      nn::init::kaiming_normal_(c->weight, 0.0, torch::kFanOut, torch::kReLU);
    } else if (auto* b = m->as<nn::BatchNorm2d>()) {
      nn::init::ones_(b->weight);
      nn::init::zeros_(b->bias);
    }
  }
}

torch::Tensor resnet_impl::trunk(const torch::Tensor& x) {
  auto y = torch::relu(bn1(conv1(x)));
  if (!opts_.sdss_stem) y = torch::max_pool2d(y, 3, 2, 1);
  y = layer4->forward(layer3->forward(layer2->forward(layer1->forward(y))));
  return torch::adaptive_avg_pool2d(y, {1, 1}).flatten(1);
}

torch::Tensor resnet_impl::features(const torch::Tensor& x) {
  const autocast_scope mixed(x.device(), autocast_);
  return trunk(x).to(torch::kFloat32);
}

torch::Tensor resnet_impl::forward(const torch::Tensor& x) {
  const autocast_scope mixed(x.device(), autocast_);
  auto f = trunk(x);
  return (fc ? fc->forward(f) : f).to(torch::kFloat32);
}

namespace {

// The padding of conv options: a c10::variant in LibTorch 1.x, a std::variant in 2.x (the
// unqualified call finds either get_if by argument-dependent lookup).
template <class V>
const torch::ExpandingArray<2>* explicit_padding(const V& v) {
  using std::get_if;
  return get_if<torch::ExpandingArray<2>>(&v);
}

// MACs of one convolution, and its output size into (h, w).
std::int64_t conv_macs(const nn::Conv2dImpl& c, std::int64_t& h, std::int64_t& w) {
  const auto& o = c.options;
  const auto k = *o.kernel_size(), s = *o.stride(), d = *o.dilation();
  const auto* pad = explicit_padding(o.padding());
  if (!pad) throw error("forward_macs: convolution with string padding");
  const auto p = **pad;
  h = (h + 2 * p[0] - d[0] * (k[0] - 1) - 1) / s[0] + 1;
  w = (w + 2 * p[1] - d[1] * (k[1] - 1) - 1) / s[1] + 1;
  return h * w * k[0] * k[1] * (o.in_channels() / o.groups()) * o.out_channels();
}

std::int64_t block_macs(const nn::Module& block, std::int64_t& h, std::int64_t& w) {
  const std::int64_t h0 = h, w0 = w;
  std::int64_t macs = 0;
  std::vector<const nn::Conv2dImpl*> convs;
  const nn::Conv2dImpl* shortcut = nullptr;
  if (const auto* b = block.as<basic_block_impl>()) {
    convs = {b->conv1.get(), b->conv2.get()};
    if (b->downsample) shortcut = b->downsample->ptr(0)->as<nn::Conv2dImpl>();
  } else if (const auto* n = block.as<bottleneck_impl>()) {
    convs = {n->conv1.get(), n->conv2.get(), n->conv3.get()};
    if (n->downsample) shortcut = n->downsample->ptr(0)->as<nn::Conv2dImpl>();
  } else {
    throw error("forward_macs: unknown block " + block.name());
  }
  for (const auto* c : convs) macs += conv_macs(*c, h, w);
  if (shortcut) {
    std::int64_t hs = h0, ws = w0;
    macs += conv_macs(*shortcut, hs, ws);
  }
  return macs;
}

}  // namespace

std::int64_t resnet_impl::forward_macs(std::int64_t h, std::int64_t w) const {
  std::int64_t macs = conv_macs(*conv1, h, w);
  if (!opts_.sdss_stem) {  // max_pool2d(3, 2, 1)
    h = (h + 2 - 3) / 2 + 1;
    w = (w + 2 - 3) / 2 + 1;
  }
  for (const auto* layer : {&layer1, &layer2, &layer3, &layer4})
    for (const auto& b : (*layer)->children()) macs += block_macs(*b, h, w);
  if (fc)
    for (const auto& m : fc->children())
      if (const auto* l = m->as<nn::LinearImpl>())
        macs += l->options.in_features() * l->options.out_features();
  return macs;
}

std::int64_t parameter_count(const torch::nn::Module& m) {
  std::int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

}  // namespace skyssl::model
