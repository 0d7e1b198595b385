// ResNet parameter names and counts against torchvision's (hard facts, not derived from our
// code): resnet18 has 11,689,512 parameters of which fc holds 513,000; resnet50 25,557,032 of
// which fc holds 2,049,000.
#include "tests/support/torch_doctest.hpp"

#include <set>
#include <sstream>

#include "skyssl/core/config.hpp"
#include "skyssl/core/error.hpp"
#include "skyssl/model/resnet.hpp"

using namespace skyssl::model;
using dims = std::vector<std::int64_t>;

namespace {

// torchvision.models.resnet18().named_parameters(), without fc.weight / fc.bias.
const char* resnet18_parameters = R"(conv1.weight bn1.weight bn1.bias
layer1.0.conv1.weight layer1.0.bn1.weight layer1.0.bn1.bias layer1.0.conv2.weight
layer1.0.bn2.weight layer1.0.bn2.bias layer1.1.conv1.weight layer1.1.bn1.weight
layer1.1.bn1.bias layer1.1.conv2.weight layer1.1.bn2.weight layer1.1.bn2.bias
layer2.0.conv1.weight layer2.0.bn1.weight layer2.0.bn1.bias layer2.0.conv2.weight
layer2.0.bn2.weight layer2.0.bn2.bias layer2.0.downsample.0.weight layer2.0.downsample.1.weight
layer2.0.downsample.1.bias layer2.1.conv1.weight layer2.1.bn1.weight layer2.1.bn1.bias
layer2.1.conv2.weight layer2.1.bn2.weight layer2.1.bn2.bias
layer3.0.conv1.weight layer3.0.bn1.weight layer3.0.bn1.bias layer3.0.conv2.weight
layer3.0.bn2.weight layer3.0.bn2.bias layer3.0.downsample.0.weight layer3.0.downsample.1.weight
layer3.0.downsample.1.bias layer3.1.conv1.weight layer3.1.bn1.weight layer3.1.bn1.bias
layer3.1.conv2.weight layer3.1.bn2.weight layer3.1.bn2.bias
layer4.0.conv1.weight layer4.0.bn1.weight layer4.0.bn1.bias layer4.0.conv2.weight
layer4.0.bn2.weight layer4.0.bn2.bias layer4.0.downsample.0.weight layer4.0.downsample.1.weight
layer4.0.downsample.1.bias layer4.1.conv1.weight layer4.1.bn1.weight layer4.1.bn1.bias
layer4.1.conv2.weight layer4.1.bn2.weight layer4.1.bn2.bias)";

std::vector<std::string> words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

std::vector<std::string> parameter_names(torch::nn::Module& m) {
  std::vector<std::string> out;
  for (const auto& kv : m.named_parameters()) out.push_back(kv.key());
  return out;
}

std::map<std::string, std::vector<std::int64_t>> state_shapes(torch::nn::Module& m) {
  std::map<std::string, std::vector<std::int64_t>> out;
  for (const auto& kv : m.named_parameters()) out[kv.key()] = kv.value().sizes().vec();
  for (const auto& kv : m.named_buffers()) out[kv.key()] = kv.value().sizes().vec();
  return out;
}

}  // namespace

TEST_CASE("resnet18: torchvision parameter names, order and count") {
  resnet net(resnet_options{18, 64, 3, false, 0});
  CHECK(parameter_names(*net) == words(resnet18_parameters));
  CHECK(parameter_count(*net) == 11176512);
  // state_dict: 62 parameters + 60 BN buffers in torchvision, minus fc's 2 entries.
  CHECK(net->named_parameters().size() + net->named_buffers().size() == 120);
  auto s = state_shapes(*net);
  CHECK((s.at("conv1.weight") == dims{64, 3, 7, 7}));
  CHECK((s.at("layer4.0.downsample.0.weight") == dims{512, 256, 1, 1}));
  CHECK((s.at("layer4.1.conv2.weight") == dims{512, 512, 3, 3}));
  CHECK((s.at("layer2.0.downsample.1.running_var") == dims{128}));
  CHECK(s.count("layer3.1.bn2.num_batches_tracked") == 1);
  CHECK(net->feature_dim() == 512);
}

TEST_CASE("resnet50: torchvision count, bottleneck names and shapes") {
  resnet net(resnet_options{50, 64, 3, false, 0});
  CHECK(parameter_count(*net) == 23508032);
  // torchvision: 161 parameters and 320 state_dict entries, both including fc.weight/fc.bias.
  CHECK(net->named_parameters().size() == 159);
  CHECK(net->named_parameters().size() + net->named_buffers().size() == 318);
  auto s = state_shapes(*net);
  CHECK((s.at("layer1.0.downsample.0.weight") == dims{256, 64, 1, 1}));
  CHECK((s.at("layer1.0.conv3.weight") == dims{256, 64, 1, 1}));
  // torchvision v1.5: the stride-2 conv is the 3x3 one.
  CHECK((s.at("layer2.0.conv2.weight") == dims{128, 128, 3, 3}));
  CHECK((s.at("layer4.2.conv3.weight") == dims{2048, 512, 1, 1}));
  CHECK((s.at("layer3.5.bn3.running_mean") == dims{1024}));
  CHECK(s.count("layer3.6.conv1.weight") == 0);
  CHECK(net->feature_dim() == 2048);
}

TEST_CASE("resnet34 count and narrow variant") {
  // torchvision resnet34: 21,797,672 parameters, fc 513,000.
  CHECK(parameter_count(*resnet(resnet_options{34, 64, 3, false, 0})) == 21284672);
  resnet narrow(resnet_options{18, 8, 3, false, 0});
  CHECK(narrow->feature_dim() == 64);
  CHECK(parameter_names(*narrow) == words(resnet18_parameters));
}

TEST_CASE("bands, SDSS stem and the MoCo head") {
  torch::NoGradGuard g;
  // 5 bands: only conv1 changes, by (5-3)*64*49 weights.
  resnet five(resnet_options{18, 64, 5, false, 0});
  CHECK(parameter_count(*five) == 11176512 + 2 * 64 * 49);
  resnet sdss(resnet_options{18, 8, 5, true, 16});
  auto x = torch::randn({2, 5, 32, 32});
  CHECK((sdss->forward(x).sizes().vec() == dims{2, 16}));
  CHECK((sdss->features(x).sizes().vec() == dims{2, 64}));
  // Stride-1 stem, no max-pool: the last stage sees 32/8 = 4 px instead of 32/32 = 1.
  auto names = parameter_names(*sdss);
  CHECK(names[names.size() - 4] == "fc.0.weight");
  CHECK(names.back() == "fc.2.bias");
  CHECK((sdss->named_parameters()["fc.0.weight"].sizes().vec() == dims{64, 64}));
  CHECK((sdss->named_parameters()["fc.2.weight"].sizes().vec() == dims{16, 64}));
  CHECK((sdss->named_parameters()["conv1.weight"].sizes().vec() == dims{8, 5, 7, 7}));
  // The head is d -> d -> dim with a ReLU between.
  auto f = sdss->features(x);
  auto& fc0 = sdss->named_parameters()["fc.0.weight"];
  auto& b0 = sdss->named_parameters()["fc.0.bias"];
  auto& fc2 = sdss->named_parameters()["fc.2.weight"];
  auto& b2 = sdss->named_parameters()["fc.2.bias"];
  auto ref = torch::relu(f.mm(fc0.t()) + b0).mm(fc2.t()) + b2;
  CHECK(torch::allclose(sdss->forward(x), ref, 1e-5, 1e-5));
}

TEST_CASE("model options from config; errors name the key") {
  auto c = skyssl::config::from_string(
      "[model]\narch = \"resnet50\"\nwidth = 16\nstem = \"sdss\"\n", "t");
  auto o = resnet_options_from(c, "model", 5);
  CHECK(o.depth == 50);
  CHECK(o.width == 16);
  CHECK(o.sdss_stem);
  CHECK(o.head_dim == 0);
  CHECK(o.in_channels == 5);
  auto bad = skyssl::config::from_string("[model]\narch = \"vgg\"\n", "t");
  CHECK_THROWS_WITH_AS(resnet_options_from(bad, "model", 3), doctest::Contains("model.arch"),
                       skyssl::config_error);
}

TEST_CASE("forward MACs from the modules: torchvision's published figures at 224x224") {
  // torchvision's model table: ResNet-18 1.81 "GFLOPS", ResNet-50 4.09 (multiply-accumulates of
  // the convolutions and the 1000-way fc, which skyssl's backbone lacks: 512k / 2.05M MACs).
  resnet_options o;
  o.depth = 18;
  CHECK(static_cast<double>(resnet(o)->forward_macs(224, 224)) + 512000 ==
        doctest::Approx(1.814e9).epsilon(0.005));
  o.depth = 50;
  CHECK(static_cast<double>(resnet(o)->forward_macs(224, 224)) + 2048000 ==
        doctest::Approx(4.089e9).epsilon(0.005));
  // The head adds d*d + d*dim (two linear layers, d = 8 * width = 32).
  o.depth = 18;
  o.width = 4;
  o.head_dim = 8;
  const auto with_head = resnet(o)->forward_macs(32, 32);
  o.head_dim = 0;
  CHECK(with_head - resnet(o)->forward_macs(32, 32) == 32 * 32 + 32 * 8);
  // Conv1 alone of a 32x32 input: 16x16 x 7x7x3 x 4.
  CHECK(resnet(o)->forward_macs(32, 32) > 16 * 16 * 147 * 4);
}
