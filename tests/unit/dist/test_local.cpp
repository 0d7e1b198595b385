// The world-of-one communicator, the [dist] options, tensor digests, and the bucketer over a
// local communicator (no MPI involved anywhere in this program).
// torch before doctest: c10's logging defines CHECK, doctest must define it last.
#include <torch/types.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/container/sequential.h>
#include <doctest/doctest.h>

#include "skyssl/core/config.hpp"
#include "skyssl/core/error.hpp"
#include "skyssl/dist/communicator.hpp"
#include "skyssl/dist/consistency.hpp"
#include "skyssl/dist/gradient_bucketer.hpp"
#include "skyssl/dist/local_communicator.hpp"
#include "skyssl/dist/parameters.hpp"
#include "skyssl/dist/make_communicator.hpp"

using namespace skyssl;

TEST_CASE("local communicator: collectives are identities, results are copies") {
  auto comm = dist::make_communicator("local");
  CHECK(comm->backend() == "local");
  CHECK(comm->world() == 1);
  CHECK(comm->rank() == 0);
  torch::Tensor t = torch::arange(6, torch::kFloat32).reshape({2, 3});
  torch::Tensor before = t.clone();
  comm->all_reduce_sum(t);
  CHECK(torch::equal(t, before));
  comm->all_reduce_mean(t);
  CHECK(torch::equal(t, before));
  auto op = comm->start_all_reduce_sum(t);
  CHECK(op->test());
  torch::Tensor g = comm->all_gather(t);
  CHECK(torch::equal(g, before));
  g.add_(1);
  CHECK(torch::equal(t, before));  // not aliased
  CHECK(comm->all_gather(torch::tensor(3.0)).sizes() == torch::IntArrayRef{1});
  comm->broadcast(t, 0);
  CHECK_THROWS_AS(comm->broadcast(t, 1), dist_error);
  torch::Tensor nc = t.t();
  CHECK_THROWS_AS(comm->all_reduce_sum(nc), dist_error);
  comm->barrier();
}

TEST_CASE("dist options from config") {
  auto o = dist::dist_options_from(config::from_string("", "empty"));
  CHECK(o.backend == "auto");
  CHECK(o.bucket_mb == 25.0);
  CHECK(o.check_every == 0);
  CHECK(o.timeout_s == 0.0);
  auto c = config::from_string(
      "[dist]\nbackend = \"mpi\"\nbucket_mb = 4.5\ncheck_every = 100\ntimeout_s = 30\n", "t");
  o = dist::dist_options_from(c);
  CHECK(o.backend == "mpi");
  CHECK(o.bucket_mb == 4.5);
  CHECK(o.check_every == 100);
  CHECK(o.timeout_s == 30.0);
  for (const char* bad :
       {"dist.backend=\"gloo\"", "dist.bucket_mb=0", "dist.check_every=-1", "dist.timeout_s=-2"}) {
    CAPTURE(bad);
    auto cfg = config::from_string("", "t");
    cfg.apply_override(bad);
    CHECK_THROWS_AS(dist::dist_options_from(cfg), config_error);
  }
  dist::options lo;
  lo.backend = "local";
  lo.timeout_s = 5;
  CHECK(dist::make_communicator(lo)->timeout() == 5);
}

TEST_CASE("digest: exact identity, sensitive to one ulp and to permutations") {
  torch::Tensor a = torch::linspace(-3, 3, 1001);
  auto d = dist::digest(a);
  CHECK(d.hash == dist::digest(a.clone()).hash);
  CHECK(std::abs(d.sum) < 1e-4);
  torch::Tensor b = a.clone();
  b[500] = std::nextafter(b[500].item<float>(), 1.0f);
  CHECK(dist::digest(b).hash != d.hash);
  torch::Tensor q = torch::arange(10, torch::kFloat32), p = q.flip(0);
  CHECK(dist::digest(p).sum == dist::digest(q).sum);
  CHECK(dist::digest(p).hash != dist::digest(q).hash);
  CHECK(dist::digest(p).weighted_abs != doctest::Approx(dist::digest(q).weighted_abs));
  // Same bytes, different length (zeros) must differ too.
  CHECK(dist::digest(torch::zeros({4})).hash != dist::digest(torch::zeros({5})).hash);
  // Non-contiguous input digests its values, not its storage.
  torch::Tensor m = torch::arange(12, torch::kFloat32).reshape({3, 4});
  CHECK(dist::digest(m.t()).hash == dist::digest(m.t().contiguous()).hash);
  dist::local_communicator comm;
  CHECK_NOTHROW(dist::check_consistent(comm, {a, b}, "weights", 1));
}

TEST_CASE("bucketer over a world of one leaves gradients as autograd made them") {
  dist::local_communicator comm;
  torch::nn::Sequential net(torch::nn::Linear(8, 16), torch::nn::Tanh(), torch::nn::Linear(16, 4));
  torch::Tensor x = torch::cos(torch::arange(40, torch::kFloat32)).reshape({5, 8});
  net->forward(x).pow(2).sum().backward();
  std::vector<torch::Tensor> plain;
  for (auto& p : net->parameters()) {
    plain.push_back(p.grad().clone());
    p.mutable_grad() = torch::Tensor();
  }
  dist::gradient_bucketer sync(comm, net->parameters(), 0.0001);
  CHECK(sync.bucket_count() >= 2);
  net->forward(x).pow(2).sum().backward();
  sync.finish();
  CHECK(sync.started_early() == sync.bucket_count());  // hooks ran on this thread
  auto ps = net->parameters();
  for (std::size_t i = 0; i < ps.size(); ++i) CHECK(torch::equal(ps[i].grad(), plain[i]));
  CHECK_THROWS_AS(dist::gradient_bucketer(comm, net->parameters(), 0.0), config_error);
  // broadcast over a world of one is a no-op
  dist::broadcast_parameters(comm, *net);
  for (std::size_t i = 0; i < ps.size(); ++i) CHECK(ps[i].grad().defined());
}

TEST_CASE("backward on CPU runs hooks on the calling thread (MPI_THREAD_FUNNELED is enough)") {
  torch::Tensor w = torch::ones({3}, torch::requires_grad());
  std::thread::id seen;
  w.register_hook([&](const torch::Tensor&) { seen = std::this_thread::get_id(); });
  (w * 2).sum().backward();
  CHECK(seen == std::this_thread::get_id());
}
