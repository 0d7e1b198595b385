#include "skyssl/model/weights.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/serialize.h>
#include <torch/torch.h>

#include <map>
#include <set>
#include <vector>

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

}  // namespace skyssl::model
