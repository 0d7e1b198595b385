#pragma once
// Start every rank from the same weights: rank `root`'s parameters and buffers (BatchNorm
// running statistics included) are broadcast to all ranks, in place.
#include <torch/types.h>

#include <vector>

#include "skyssl/dist/communicator.hpp"

namespace torch::nn {
class Module;
}

namespace skyssl::dist {

// Every tensor in order; same list on every rank. Non-contiguous tensors are handled.
void broadcast_parameters(communicator& comm, const std::vector<torch::Tensor>& tensors,
                          int root = 0);
// module.parameters() then module.buffers() (recursively).
void broadcast_parameters(communicator& comm, const torch::nn::Module& module, int root = 0);

// The tensors broadcast_parameters(module) uses, in its order: parameters, then buffers.
std::vector<torch::Tensor> parameters_and_buffers(const torch::nn::Module& module);

}  // namespace skyssl::dist
