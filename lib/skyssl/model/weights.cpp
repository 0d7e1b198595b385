#include "skyssl/model/weights.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/types.h>

#include <cstring>
#include <fstream>
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

std::filesystem::path run_weights_file(const std::filesystem::path& run_dir) {
  const auto file = run_dir / run_weights_name;
  if (std::filesystem::exists(file)) return file;
  if (std::filesystem::exists(run_dir / "weights.pt"))
    throw error(fmt::format(
        "'{}' not found: skyssl tools never read '{}' (a TorchScript archive runs code when "
        "loaded); run skyssl-train --run-dir {} again to write it from the run's last checkpoint",
        file.string(), (run_dir / "weights.pt").string(), run_dir.string()));
  throw error(fmt::format(
      "'{}' not found: --run-dir must name a run that finished (skyssl-train --run-dir {} writes "
      "it at the end)",
      file.string(), run_dir.string()));
}

void refuse_code_archive(const std::filesystem::path& file, const std::string& remedy) {
  std::ifstream in(file, std::ios::binary | std::ios::ate);
  if (!in) return;  // the reader names a missing or unreadable file
  const auto size = static_cast<std::uint64_t>(in.tellg());
  in.seekg(0);
  unsigned char head[9] = {};
  in.read(reinterpret_cast<char*>(head), sizeof head);
  const auto got = in.gcount();
  // A safetensors file: a little-endian header length that fits the file, then '{'.
  std::uint64_t header = 0;
  for (int i = 7; i >= 0; --i) header = (header << 8) | head[i];
  if (got == 9 && head[8] == '{' && header <= size - 8) return;
  // A zip (TorchScript, torch.save since PyTorch 1.6) starts "PK\3\4"; a pickle (older
  // torch.save, torch::pickle_save) with the PROTO opcode 0x80 and a protocol of 2 to 5.
  const bool zip = got >= 4 && std::memcmp(head, "PK\3\4", 4) == 0;
  const bool pickle = got >= 2 && head[0] == 0x80 && head[1] >= 2 && head[1] <= 5;
  if (zip || pickle)
    throw error(fmt::format(
        "'{}' is a {} archive, which can run code when loaded: skyssl reads weights only from "
        "safetensors files; {}",
        file.string(), zip ? "TorchScript/zip" : "pickle", remedy));
}

void load_weights_file(torch::nn::Module& m, const std::filesystem::path& file,
                       const std::string& context) {
  refuse_code_archive(file, fmt::format("use '{}' (skyssl-train writes it beside weights.pt)",
                                        (file.parent_path() / run_weights_name).string()));
  const tensor_map from = read_safetensors(file);
  try {
    load_state(m, from, "", file.string());
  } catch (const checkpoint_error& e) {
    throw error(fmt::format("{} (weights for {})", e.what(), context));
  }
}

namespace {

bool is_head(const std::string& name) { return name.rfind("fc.", 0) == 0; }

// The band count of the encoder in a run's weights, from conv1.weight's (width, bands, 7, 7).
int saved_in_channels(const tensor_map& tensors, const std::filesystem::path& weights) {
  const auto it = tensors.find("conv1.weight");
  if (it == tensors.end() || it->second.dim() != 4)
    throw checkpoint_error(
        fmt::format("'{}' holds no ResNet (no 4-D conv1.weight)", weights.string()));
  return static_cast<int>(it->second.size(1));
}

}  // namespace

resnet_options run_encoder_options(const config& cfg, int channels) {
  auto o = resnet_options_from(cfg, "model", channels);
  o.head_dim = static_cast<int>(cfg.get_int("moco.dim", default_projection_dim));
  return o;
}

resnet load_run_encoder(const std::filesystem::path& run_dir) {
  const auto config_file = run_dir / "config.toml";
  if (!std::filesystem::exists(config_file))
    throw error(fmt::format("'{}' not found: --run-dir must be a directory written by skyssl-train",
                            config_file.string()));
  const auto weights = run_weights_file(run_dir);
  refuse_code_archive(weights,
                      "skyssl-train writes this file as safetensors; this run directory "
                      "was not written by it");
  const tensor_map tensors = read_safetensors(weights);
  const config cfg = config::from_file(config_file);
  resnet m(run_encoder_options(cfg, saved_in_channels(tensors, weights)));
  try {
    load_state(*m, tensors, "", weights.string());
  } catch (const checkpoint_error& e) {
    throw error(fmt::format("{} (weights for the model in '{}')", e.what(), config_file.string()));
  }
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
  refuse_code_archive(file,
                      "use skyssl-export's .safetensors or convert with PyTorch's safetensors");
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
