#pragma once
// Exchange with the independent PyTorch reference (torch_reference.py): named tensors go out
// through torch::pickle_save (read there by torch.load) and come back from torch.save (read
// here by torch::pickle_load). The script runs at test time; a missing python3, torch or
// torchvision makes it exit non-zero, which the callers REQUIRE against (a failure, not a skip).
#include <fmt/format.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>

#include "tests/support/test_paths.hpp"
#include "tests/support/torch_doctest.hpp"
#include <torch/serialize.h>
#include "tests/support/run_command.hpp"

namespace skyssl::test::golden {

using tensor_map = std::map<std::string, torch::Tensor>;

inline void save(const std::filesystem::path& path, const tensor_map& tensors) {
  c10::Dict<std::string, torch::Tensor> dict;
  for (const auto& [k, v] : tensors) dict.insert(k, v.detach().contiguous());
  const auto bytes = torch::pickle_save(dict);
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

inline tensor_map load(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)),
                                std::istreambuf_iterator<char>());
  tensor_map out;
  for (const auto& kv : torch::pickle_load(bytes).toGenericDict())
    out[kv.key().toStringRef()] = kv.value().toTensor();
  return out;
}

struct run_result {
  int rc = -1;
  std::string output;
};

// python3 torch_reference.py MODE IN OUT, with its output captured for the failure message.
inline run_result run_reference(const std::string& mode, const std::filesystem::path& in,
                                const std::filesystem::path& out) {
  const auto script = source_dir() / "tests/integration/golden/torch_reference.py";
  const std::string cmd = fmt::format("'{}' '{}' {} '{}' '{}'", python(), script.string(), mode,
                                      in.string(), out.string());
  const auto c = run_command(cmd);
  return {c.code(), c.output};
}

// max |a - b| / max |b|: relative to the reference's scale, so entries near zero do not blow
// the ratio up. Shapes must agree (a mismatch is reported as an infinite error).
inline double rel_err(const torch::Tensor& a, const torch::Tensor& b) {
  if (a.sizes() != b.sizes()) return INFINITY;
  const auto x = a.to(torch::kFloat64), y = b.to(torch::kFloat64);
  const double scale = y.abs().max().item<double>();
  const double diff = (x - y).abs().max().item<double>();
  return scale > 0 ? diff / scale : diff;
}

// The reference's tensor `key`, failing the test (not throwing out of it) when it is absent.
inline torch::Tensor lookup(const tensor_map& m, const std::string& key) {
  const auto it = m.find(key);
  REQUIRE_MESSAGE(it != m.end(), "the reference wrote no tensor '", key, "'");
  return it->second;
}

// Runs the reference in `mode` on `in`, and checks that it returns exactly the keys of `mine`,
// each within tolerance(key) relative. Both sides are kept in build/test-tmp/golden_<mode>/
// (in.pt, out.pt, skyssl.pt) to compare by hand when this fails. Returns the reference's map.
template <class Tolerance>
tensor_map compare_with_reference(const std::string& mode, const tensor_map& in,
                                  const tensor_map& mine, Tolerance tolerance) {
  const auto dir = tmp_dir("golden_" + mode);
  save(dir / "in.pt", in);
  const auto r = run_reference(mode, dir / "in.pt", dir / "out.pt");
  INFO(r.output);
  REQUIRE(r.rc == 0);
  auto ref = load(dir / "out.pt");
  save(dir / "skyssl.pt", mine);
  CHECK(ref.size() == mine.size());
  for (const auto& [key, value] : mine) {
    INFO(key);
    CHECK(rel_err(value, lookup(ref, key)) < tolerance(key));
  }
  return ref;
}

}  // namespace skyssl::test::golden
