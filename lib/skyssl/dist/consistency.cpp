#include "skyssl/dist/consistency.hpp"

#include <fmt/format.h>
#include <torch/nn/module.h>

#include <cstring>
#include <map>

#include "skyssl/core/error.hpp"

namespace skyssl::dist {

tensor_digest digest(const torch::Tensor& t_in) {
  tensor_digest d;
  if (!t_in.defined()) return d;
  const torch::Tensor t = t_in.detach().to(torch::kCPU).contiguous();
  // FNV-1a, one 64-bit word per step (8x fewer multiplies than per byte), bytes for the tail.
  constexpr std::uint64_t prime = 1099511628211ull;
  std::uint64_t h = 14695981039346656037ull;
  const auto* bytes = static_cast<const unsigned char*>(t.data_ptr());
  const std::size_t n = t.nbytes();
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, bytes + i, 8);
    h = (h ^ w) * prime;
  }
  for (; i < n; ++i) h = (h ^ bytes[i]) * prime;
  d.hash = h ^ static_cast<std::uint64_t>(t.numel());
  if (t.numel() > 0 && (t.is_floating_point() || !t.is_complex())) {
    const torch::Tensor x = t.reshape({-1}).to(torch::kFloat64);
    d.sum = x.sum().item<double>();
    d.weighted_abs = (x.abs() * torch::arange(1, t.numel() + 1, x.options())).sum().item<double>();
  }
  return d;
}

namespace {

std::string shape_of(const torch::Tensor& t) {
  if (!t.defined()) return "undefined";
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? "," : "") + std::to_string(t.size(i));
  return s + "]";
}

std::string rank_list(const std::vector<int>& ranks) {
  std::string s;
  for (std::size_t i = 0; i < ranks.size(); ++i) {
    if (i == 8 && ranks.size() > 10) return s + fmt::format(", ... ({} ranks)", ranks.size());
    s += (i ? "," : "") + std::to_string(ranks[i]);
  }
  return s;
}

}  // namespace

void check_consistent(communicator& comm, const std::vector<torch::Tensor>& tensors,
                      const std::string& what, std::int64_t step,
                      const std::vector<std::string>& names) {
  const int world = comm.world();
  const auto n = static_cast<std::int64_t>(tensors.size());
  // First agree on the count, so the per-tensor gather below has one shape everywhere.
  torch::Tensor counts = comm.all_gather(torch::tensor({n}, torch::kInt64));
  for (int r = 0; r < world; ++r)
    if (counts[r].item<std::int64_t>() != n)
      throw dist_error(fmt::format(
          "dist consistency check of '{}' at step {}: rank {} has {} tensors, rank {} has {}", what,
          step, comm.rank(), n, r, counts[r].item<std::int64_t>()));
  if (n == 0) return;

  torch::Tensor hashes = torch::empty({n}, torch::kInt64);
  torch::Tensor sums = torch::empty({n, 2}, torch::kFloat64);
  for (std::int64_t i = 0; i < n; ++i) {
    const tensor_digest d = digest(tensors[i]);
    std::int64_t h;
    std::memcpy(&h, &d.hash, sizeof h);
    hashes[i] = h;
    sums[i][0] = d.sum;
    sums[i][1] = d.weighted_abs;
  }
  const torch::Tensor all_h = comm.all_gather(hashes).view({world, n});
  const torch::Tensor all_s = comm.all_gather(sums).view({world, n, 2});
  const auto* H = all_h.data_ptr<std::int64_t>();
  const auto* S = all_s.data_ptr<double>();

  std::vector<std::string> problems;
  for (std::int64_t i = 0; i < n; ++i) {
    std::map<std::int64_t, std::vector<int>> groups;  // hash -> ranks holding it
    for (int r = 0; r < world; ++r) groups[H[r * n + i]].push_back(r);
    if (groups.size() == 1) continue;
    // The majority is the reference (ties: the group holding the lowest rank, so rank 0's
    // view wins a 1:1 split); every other group is reported as diverged.
    auto ref = groups.begin();
    for (auto it = groups.begin(); it != groups.end(); ++it)
      if (it->second.size() > ref->second.size() ||
          (it->second.size() == ref->second.size() && it->second[0] < ref->second[0]))
        ref = it;
    const std::string label = i < static_cast<std::int64_t>(names.size())
                                  ? fmt::format("'{}'", names[i])
                                  : fmt::format("#{}", i);
    auto ranks_phrase = [](const std::vector<int>& rs, const char* one, const char* many) {
      return fmt::format("{} {} {}", rs.size() > 1 ? "ranks" : "rank", rank_list(rs),
                         rs.size() > 1 ? many : one);
    };
    const int r0 = ref->second[0];
    std::string msg = fmt::format("tensor {} {}: {} sum {:.17g}", label, shape_of(tensors[i]),
                                  ranks_phrase(ref->second, "has", "have"), S[(r0 * n + i) * 2]);
    for (auto it = groups.begin(); it != groups.end(); ++it) {
      if (it == ref) continue;
      const int r = it->second[0];
      msg += fmt::format("; {} (sum {:.17g}, weighted |x| {:.17g} vs {:.17g})",
                         ranks_phrase(it->second, "differs", "differ"), S[(r * n + i) * 2],
                         S[(r * n + i) * 2 + 1], S[(r0 * n + i) * 2 + 1]);
    }
    problems.push_back(msg);
  }
  if (problems.empty()) return;
  std::string all =
      fmt::format("dist: '{}' diverged across ranks at step {} ({} of {} tensors):", what, step,
                  problems.size(), n);
  for (std::size_t k = 0; k < problems.size() && k < 5; ++k) all += "\n  " + problems[k];
  if (problems.size() > 5) all += fmt::format("\n  ... and {} more", problems.size() - 5);
  throw dist_error(all);
}

void check_consistent(communicator& comm, const torch::nn::Module& module, const std::string& what,
                      std::int64_t step) {
  std::vector<torch::Tensor> tensors;
  std::vector<std::string> names;
  for (const auto& p : module.named_parameters(true)) {
    names.push_back(p.key());
    tensors.push_back(p.value());
  }
  for (const auto& b : module.named_buffers(true)) {
    names.push_back(b.key());
    tensors.push_back(b.value());
  }
  check_consistent(comm, tensors, what, step, names);
}

}  // namespace skyssl::dist
