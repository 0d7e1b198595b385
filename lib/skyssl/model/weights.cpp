#include "skyssl/model/weights.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/serialize.h>
#include <torch/torch.h>

#include <map>
#include <set>
#include <vector>

#include "skyssl/core/config.hpp"
#include "skyssl/core/error.hpp"

namespace skyssl::model {
namespace {

std::string shape_text(const torch::Tensor& t) {
  return fmt::format("{}", fmt::join(t.sizes().vec(), "x"));
}

}  // namespace

named_tensors state_tensors(const torch::nn::Module& m, const std::string& prefix) {
  named_tensors out;
  for (const auto& p : m.named_parameters()) out.emplace_back(prefix + p.key(), p.value());
  for (const auto& b : m.named_buffers()) out.emplace_back(prefix + b.key(), b.value());
  return out;
}

void load_state(torch::nn::Module& m, const tensor_map& from, const std::string& prefix,
                const std::string& source) {
  torch::NoGradGuard no_grad;
  std::set<std::string> known;
  for (auto& [name, dst] : state_tensors(m, prefix)) {
    known.insert(name);
    const auto it = from.find(name);
    if (it == from.end())
      throw checkpoint_error(fmt::format("'{}' has no tensor '{}'", source, name));
    const auto& src = it->second;
    if (src.sizes() != dst.sizes() || src.scalar_type() != dst.scalar_type())
      throw checkpoint_error(fmt::format("'{}': {} is {} {}, the model expects {} {}", source, name,
                                         c10::toString(src.scalar_type()), shape_text(src),
                                         c10::toString(dst.scalar_type()), shape_text(dst)));
    auto d = dst;  // shares storage with the module's tensor
    d.copy_(src);
  }
  std::vector<std::string> unknown;
  for (const auto& [name, t] : from)
    if (name.rfind(prefix, 0) == 0 && !known.count(name)) unknown.push_back(name);
  if (!unknown.empty())
    throw checkpoint_error(
        fmt::format("'{}' has tensors the model does not: {}", source, fmt::join(unknown, ", ")));
}

void load_weights_file(torch::nn::Module& m, const std::filesystem::path& file,
                       const std::string& context) {
  std::map<std::string, std::vector<std::int64_t>> expected;
  for (const auto& [name, t] : state_tensors(m)) expected[name] = t.sizes().vec();
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(file.string());
    m.load(archive);
  } catch (const c10::Error& e) {
    throw error(fmt::format("'{}' does not match {}: {}", file.string(), context,
                            e.what_without_backtrace()));
  }
  for (const auto& [name, t] : state_tensors(m))
    if (t.sizes().vec() != expected.at(name))
      throw error(fmt::format("'{}' does not match {}: {} has shape {}, expected {}", file.string(),
                              context, name, shape_text(t), fmt::join(expected.at(name), "x")));
}

namespace {

bool is_head(const std::string& name) { return name.rfind("fc.", 0) == 0; }

// The band count of the encoder saved in weights.pt (torch::save(module): one nested archive
// per submodule), from conv1.weight's (width, bands, 7, 7).
int saved_in_channels(const std::filesystem::path& weights) {
  torch::Tensor w;
  try {
    torch::serialize::InputArchive archive, conv1;
    archive.load_from(weights.string());
    if (archive.try_read("conv1", conv1)) conv1.try_read("weight", w);
  } catch (const c10::Error& e) {
    throw checkpoint_error(fmt::format("'{}' is not a LibTorch weights archive: {}",
                                       weights.string(), e.what_without_backtrace()));
  }
  if (!w.defined() || w.dim() != 4)
    throw checkpoint_error(
        fmt::format("'{}' holds no ResNet (no 4-D conv1.weight)", weights.string()));
  return static_cast<int>(w.size(1));
}

}  // namespace

resnet_options run_encoder_options(const config& cfg, int channels) {
  auto o = resnet_options_from(cfg, "model", channels);
  o.head_dim = static_cast<int>(cfg.get_int("moco.dim", default_projection_dim));
  return o;
}

resnet load_run_encoder(const std::filesystem::path& run_dir) {
  const auto config_file = run_dir / "config.toml";
  const auto weights = run_dir / "weights.pt";
  if (!std::filesystem::exists(config_file))
    throw error(fmt::format("'{}' not found: --run-dir must be a directory written by skyssl-train",
                            config_file.string()));
  if (!std::filesystem::exists(weights))
    throw error(
        fmt::format("'{}' not found: --run-dir must name a run that finished (skyssl-train writes "
                    "weights.pt at the end)",
                    weights.string()));
  const config cfg = config::from_file(config_file);
  resnet m(run_encoder_options(cfg, saved_in_channels(weights)));
  load_weights_file(*m, weights, fmt::format("the model in '{}'", config_file.string()));
  return m;
}

named_tensors torchvision_state(const resnet& m, bool with_head) {
  named_tensors out;
  for (auto& [name, t] : state_tensors(*m))
    if (with_head || !is_head(name)) out.emplace_back(name, t);
  return out;
}

bool load_torchvision_weights(resnet& m, const std::filesystem::path& file) {
  if (!std::filesystem::exists(file))
    throw checkpoint_error(fmt::format("weights file '{}' not found", file.string()));
  tensor_map from = read_safetensors(file);
  from.erase("fc.weight");  // torchvision's classifier, not a MoCo head
  from.erase("fc.bias");
  bool file_has_head = false;
  for (const auto& [name, t] : from) file_has_head = file_has_head || is_head(name);
  // Checked in one place by load_state: the file's tensors against the module's, with the
  // head's own tensors stood in by the module's when the file has none.
  if (!file_has_head)
    for (auto& [name, t] : state_tensors(*m))
      if (is_head(name)) from.emplace(name, t.detach().clone());
  if (file_has_head && m->options().head_dim == 0)
    throw checkpoint_error(
        fmt::format("'{}' holds a projection head (fc.*) but the model has none", file.string()));
  load_state(*m, from, "", file.string());
  return file_has_head;
}

}  // namespace skyssl::model
