// skyssl's ResNet against torchvision's, built from torchvision's own blocks and loaded
// strictly from skyssl's state_dict: ResNet-18 and ResNet-50 (narrow, width 8, small images,
// but torchvision's shapes and strides), standard and SDSS stems, with the MoCo v2 head.
// Outputs must agree to 1e-5 relative in eval mode (running statistics) and train mode (batch
// statistics), and so must the running statistics a train pass leaves behind.
#include "golden_io.hpp"

#include "skyssl/model/resnet.hpp"

using namespace skyssl;
using namespace skyssl::test::golden;

namespace {

struct net_case {
  std::string name;
  model::resnet_options opts;
  std::int64_t image;
};

// Non-trivial BN affine parameters and running statistics, so eval mode is not an identity and
// a BN loaded under the wrong name shows.
void randomize_bn(model::resnet& net) {
  torch::NoGradGuard g;
  for (auto& kv : net->named_parameters())
    if (kv.value().dim() == 1 && kv.key().find("bn") != std::string::npos)
      kv.value().uniform_(0.5, 1.5);
  for (auto& kv : net->named_buffers()) {
    if (kv.key().find("running_mean") != std::string::npos) kv.value().normal_(0, 0.1);
    if (kv.key().find("running_var") != std::string::npos) kv.value().uniform_(0.5, 1.5);
  }
  // downsample.1 is a BN too (its parameters have no "bn" in the name).
  for (auto& kv : net->named_parameters())
    if (kv.key().find("downsample.1") != std::string::npos) kv.value().uniform_(0.5, 1.5);
}

std::vector<torch::Tensor> buffers_copy(model::resnet& net) {
  std::vector<torch::Tensor> out;
  for (auto& b : net->buffers()) out.push_back(b.clone());
  return out;
}

void restore_buffers(model::resnet& net, const std::vector<torch::Tensor>& saved) {
  torch::NoGradGuard g;
  auto bufs = net->buffers();
  for (std::size_t i = 0; i < bufs.size(); ++i) bufs[i].copy_(saved[i]);
}

}  // namespace

TEST_CASE("ResNet-18/50, both stems, with head: outputs match torchvision to 1e-5") {
  torch::manual_seed(11);
  const std::vector<net_case> cases = {
      {"r18_standard", {18, 8, 3, false, 16}, 32},
      {"r18_sdss", {18, 8, 5, true, 16}, 24},
      {"r50_standard", {50, 8, 3, false, 16}, 32},
      {"r50_sdss", {50, 8, 5, true, 16}, 24},
  };
  tensor_map in, mine;
  for (const auto& c : cases) {
    model::resnet net(c.opts);
    randomize_bn(net);
    const auto p = c.name + "/";
    in[p + "depth"] = torch::tensor(c.opts.depth);
    in[p + "width"] = torch::tensor(c.opts.width);
    in[p + "in_channels"] = torch::tensor(c.opts.in_channels);
    in[p + "sdss"] = torch::tensor(c.opts.sdss_stem ? 1 : 0);
    in[p + "head_dim"] = torch::tensor(c.opts.head_dim);
    for (const auto& kv : net->named_parameters()) in[p + "sd." + kv.key()] = kv.value().clone();
    for (const auto& kv : net->named_buffers()) in[p + "sd." + kv.key()] = kv.value().clone();
    const auto x = torch::randn({6, c.opts.in_channels, c.image, c.image});
    in[p + "x"] = x;

    torch::NoGradGuard g;
    net->eval();
    mine[p + "eval"] = net->forward(x);
    net->train();
    const auto before = buffers_copy(net);
    mine[p + "train"] = net->forward(x);
    for (const auto& kv : net->named_buffers())
      if (kv.key().find("running_") != std::string::npos)
        mine[p + "after_train." + kv.key()] = kv.value().clone();
    // The features of the same train pass (from the same running statistics as before).
    restore_buffers(net, before);
    mine[p + "features"] = net->features(x);
  }
  // Every key we computed, and nothing else, came back.
  compare_with_reference("resnet", in, mine, [](const std::string&) { return 1e-5; });
}
