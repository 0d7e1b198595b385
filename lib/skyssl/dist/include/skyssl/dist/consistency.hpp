#pragma once
// Debug check that data-parallel state has not drifted apart: every rank hashes its tensors
// (weights, the MoCo queue, ...), the digests are all-gathered, and any disagreement throws
// dist_error naming what diverged, which tensor, and which ranks. Ranks in a correct run hold
// bit-identical weights and queues (same initial broadcast, same averaged gradients, same
// enqueue), so the comparison is exact. Collective: every rank must call it with the same
// number of tensors. Called by the trainer every dist.check_every steps.
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "skyssl/dist/communicator.hpp"

namespace torch::nn {
class Module;
}

namespace skyssl::dist {

struct tensor_digest {
  std::uint64_t hash = 0;   // FNV-1a over the raw bytes (exact identity)
  double sum = 0;           // float64 sum: a readable size of the difference
  double weighted_abs = 0;  // sum |x| * (index + 1): catches permutations the sum misses
};

tensor_digest digest(const torch::Tensor& t);

// names (optional) label the tensors in the message; `what` names the set ("weights", "queue").
void check_consistent(communicator& comm, const std::vector<torch::Tensor>& tensors,
                      const std::string& what, std::int64_t step,
                      const std::vector<std::string>& names = {});
// Parameters and buffers of a module, labelled with their names.
void check_consistent(communicator& comm, const torch::nn::Module& module, const std::string& what,
                      std::int64_t step);

}  // namespace skyssl::dist
