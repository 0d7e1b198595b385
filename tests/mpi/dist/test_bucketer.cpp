// The gradient bucketer: after finish(), each rank's gradients equal the mean over ranks of the
// per-rank gradients, which every rank also computes locally (one input per rank) as the
// reference. Also broadcast_parameters.
// torch before doctest: c10's logging defines CHECK, doctest must define it last.
#include <torch/types.h>
#include <torch/optim/sgd.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/utils.h>
#include <torch/nn/module.h>
#include <doctest/doctest.h>

#include <thread>

#include "skyssl/dist/communicator.hpp"
#include "skyssl/dist/consistency.hpp"
#include "skyssl/dist/gradient_bucketer.hpp"
#include "skyssl/dist/parameters.hpp"
#include "tests/support/mpi_world.hpp"

using namespace skyssl;

namespace {

struct NetImpl : torch::nn::Module {
  // `unused` is registered first so it lands in the last bucket (buckets fill in reverse).
  torch::nn::Linear unused{nullptr}, fc1{nullptr}, fc2{nullptr};
  torch::nn::Conv2d conv{nullptr};
  torch::nn::BatchNorm2d bn{nullptr};
  NetImpl() {
    unused = register_module("unused", torch::nn::Linear(3, 3));
    conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 4, 3)));
    bn = register_module("bn", torch::nn::BatchNorm2d(4));
    fc1 = register_module("fc1", torch::nn::Linear(4 * 6 * 6, 10));
    fc2 = register_module("fc2", torch::nn::Linear(10, 5));
  }
  torch::Tensor forward(torch::Tensor x) {
    x = torch::relu(bn(conv(x)));
    return fc2(torch::tanh(fc1(x.flatten(1))));
  }
};
TORCH_MODULE(Net);

// Deterministic, rank-dependent inputs (no global RNG).
torch::Tensor input_for(int rank) {
  return torch::sin(torch::arange(4 * 3 * 8 * 8, torch::kFloat32) * 0.37f * (rank + 1))
      .reshape({4, 3, 8, 8});
}

torch::Tensor loss_of(Net& net, int rank) { return net->forward(input_for(rank)).pow(2).mean(); }

void clear_grads(Net& net) {
  for (auto& p : net->parameters()) p.mutable_grad() = torch::Tensor();
}

// Mean over ranks of the local gradients, computed on this rank alone.
std::vector<torch::Tensor> reference_grads(Net& net, int world) {
  std::vector<torch::Tensor> ref;
  for (auto& p : net->parameters()) ref.push_back(torch::zeros_like(p));
  for (int r = 0; r < world; ++r) {
    clear_grads(net);
    loss_of(net, r).backward();
    auto ps = net->parameters();
    for (std::size_t i = 0; i < ps.size(); ++i)
      if (ps[i].grad().defined()) ref[i] += ps[i].grad();
  }
  for (auto& g : ref) g /= world;
  clear_grads(net);
  return ref;
}

Net make_identical_net(dist::communicator& comm) {
  Net net;
  // Make ranks differ first so the broadcast has something to do.
  {
    torch::NoGradGuard ng;
    for (auto& p : net->parameters()) p.add_(0.01 * comm.rank());
  }
  dist::broadcast_parameters(comm, *net);
  return net;
}

}  // namespace

TEST_CASE("broadcast_parameters makes every rank hold rank 0's weights and buffers") {
  auto comm = skyssl::test::mpi_world();
  Net net;
  {
    torch::NoGradGuard ng;
    for (auto& t : dist::parameters_and_buffers(*net)) t.add_(comm->rank() + 1);
  }
  // Remember rank 0's values, as seen by everyone, before the broadcast.
  std::vector<torch::Tensor> root_vals;
  for (auto& t : dist::parameters_and_buffers(*net)) {
    torch::Tensor g = comm->all_gather(t.detach().reshape({1, -1}).contiguous());
    root_vals.push_back(g[0].view(t.sizes()).clone());
  }
  dist::broadcast_parameters(*comm, *net);
  auto after = dist::parameters_and_buffers(*net);
  REQUIRE(after.size() == root_vals.size());
  for (std::size_t i = 0; i < after.size(); ++i) CHECK(torch::equal(after[i], root_vals[i]));
  CHECK_NOTHROW(dist::check_consistent(*comm, *net, "weights", 0));
  // A non-contiguous view is broadcast through a copy.
  torch::Tensor m = torch::full({3, 4}, static_cast<float>(comm->rank())).t();
  dist::broadcast_parameters(*comm, std::vector<torch::Tensor>{m});
  CHECK(torch::equal(m, torch::zeros({4, 3})));
}

TEST_CASE("bucketed gradients equal the mean of per-rank gradients") {
  auto comm = skyssl::test::mpi_world();
  for (double bucket_mb : {25.0, 0.0001}) {
    CAPTURE(bucket_mb);
    Net net = make_identical_net(*comm);
    const auto ref = reference_grads(net, comm->world());
    dist::gradient_bucketer sync(*comm, net->parameters(), bucket_mb);
    if (bucket_mb < 1) CHECK(sync.bucket_count() > 2);
    if (bucket_mb > 1) CHECK(sync.bucket_count() == 1);

    loss_of(net, comm->rank()).backward();
    sync.finish();
    auto ps = net->parameters();
    for (std::size_t i = 0; i < ps.size(); ++i) {
      CAPTURE(i);
      REQUIRE(ps[i].grad().defined());
      CHECK(torch::allclose(ps[i].grad(), ref[i], 1e-5, 1e-6));
    }
    // Hooks ran on this (the owning) thread, so every bucket but the one holding the unused
    // parameter was started during backward.
    CHECK(sync.started_early() == sync.bucket_count() - 1);

    // Second step without zeroing: gradients accumulate exactly as in plain autograd.
    loss_of(net, comm->rank()).backward();
    sync.finish();
    ps = net->parameters();
    for (std::size_t i = 0; i < ps.size(); ++i) {
      CAPTURE(i);
      CHECK(torch::allclose(ps[i].grad(), 2 * ref[i], 1e-5, 1e-6));
    }
    // The unused parameter got zeros, the same on all ranks.
    CHECK(torch::equal(net->unused->weight.grad(), torch::zeros_like(net->unused->weight)));
  }
}

TEST_CASE("bucketed SGD keeps ranks bit-identical") {
  auto comm = skyssl::test::mpi_world();
  Net net = make_identical_net(*comm);
  torch::optim::SGD opt(net->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  dist::gradient_bucketer sync(*comm, net->parameters(), 0.001);
  for (int step = 0; step < 3; ++step) {
    opt.zero_grad();
    loss_of(net, comm->rank() + step).backward();
    sync.finish();
    opt.step();
    CHECK_NOTHROW(dist::check_consistent(*comm, net->parameters(), "weights", step));
  }
}
