#include "skyssl/dist/parameters.hpp"

#include <torch/nn/module.h>

#include "skyssl/core/error.hpp"

namespace skyssl::dist {

void broadcast_parameters(communicator& comm, const std::vector<torch::Tensor>& tensors, int root) {
  torch::NoGradGuard no_grad;
  for (const torch::Tensor& t : tensors) {
    if (!t.defined()) continue;
    if (t.is_contiguous()) {
      torch::Tensor alias = t;  // shares storage; the collective writes through data_ptr()
      comm.broadcast(alias, root);
    } else {
      torch::Tensor tmp = t.contiguous();
      comm.broadcast(tmp, root);
      torch::Tensor(t).copy_(tmp);
    }
  }
}

std::vector<torch::Tensor> parameters_and_buffers(const torch::nn::Module& module) {
  std::vector<torch::Tensor> all = module.parameters(/*recurse=*/true);
  for (const auto& b : module.buffers(/*recurse=*/true)) all.push_back(b);
  return all;
}

void broadcast_parameters(communicator& comm, const torch::nn::Module& module, int root) {
  broadcast_parameters(comm, parameters_and_buffers(module), root);
}

}  // namespace skyssl::dist
