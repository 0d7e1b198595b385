#include "tests/support/torch_doctest.hpp"
#include <torch/optim/sgd.h>
#include <torch/nn/functional.h>
#include <torch/utils.h>

#include <algorithm>
#include <cmath>

#include "skyssl/core/config.hpp"
#include "skyssl/core/error.hpp"
#include "skyssl/dist/local_communicator.hpp"
#include "skyssl/moco/engine.hpp"
#include "tests/support/tiny_moco.hpp"

using namespace skyssl;
using namespace skyssl::moco;

namespace {

using test::tiny_moco;
using test::tiny_model;

bool same(const torch::Tensor& a, const torch::Tensor& b, double tol = 1e-5) {
  return a.sizes() == b.sizes() && torch::allclose(a, b, tol, tol);
}

}  // namespace

TEST_CASE("InfoNCE matches a hand computation") {
  // Two queries, dim 2, queue of 2, T = 0.5.
  auto q = torch::tensor({{1.0f, 0.0f}, {0.0f, 1.0f}});
  auto k = torch::tensor({{0.6f, 0.8f}, {0.0f, 1.0f}});
  auto queue = torch::tensor({{1.0f, 0.0f}, {-1.0f, 0.0f}});
  auto logits = moco_logits(q, k, queue, 0.5);
  // Row 0: [0.6, 1, -1] / 0.5; row 1: [1, 0, 0] / 0.5.
  CHECK(same(logits, torch::tensor({{1.2f, 2.0f, -2.0f}, {2.0f, 0.0f, 0.0f}})));
  const double l0 = -1.2 + std::log(std::exp(1.2) + std::exp(2.0) + std::exp(-2.0));
  const double l1 = -2.0 + std::log(std::exp(2.0) + 2.0);
  CHECK(info_nce(logits).item<double>() == doctest::Approx((l0 + l1) / 2).epsilon(1e-6));
}

TEST_CASE("queue: seeded, normalised, identical for a seed; enqueue wraps the pointer") {
  auto a = initial_queue(64, 8, 3), b = initial_queue(64, 8, 3), c = initial_queue(64, 8, 4);
  CHECK(torch::equal(a, b));
  CHECK(!torch::equal(a, c));
  CHECK(same(a.norm(2, 1), torch::ones({64})));
  // Roughly isotropic: mean near 0 (8*64 normals, then normalised).
  CHECK(std::abs(a.mean().item<double>()) < 0.1);

  key_queue q(8, 2, 1);
  auto batch = [](float v) { return torch::full({4, 2}, v); };
  q.enqueue(batch(1));
  CHECK(q.ptr() == 4);
  q.enqueue(batch(2));
  CHECK(q.ptr() == 0);
  q.enqueue(batch(3));
  CHECK(q.ptr() == 4);
  CHECK(torch::equal(q.keys().narrow(0, 0, 4), batch(3)));
  CHECK(torch::equal(q.keys().narrow(0, 4, 4), batch(2)));
}

TEST_CASE("K % global batch and bn_group checks name the keys") {
  CHECK_THROWS_WITH_AS(check_queue_fits(100, 32), doctest::Contains("moco.K"), config_error);
  CHECK_THROWS_WITH_AS(check_queue_fits(100, 32), doctest::Contains("train.global_batch = 32"),
                       config_error);
  CHECK_NOTHROW(check_queue_fits(128, 32));
  CHECK_THROWS_WITH_AS(resolve_bn_group(3, 8), doctest::Contains("moco.bn_group"), config_error);
  CHECK(resolve_bn_group(0, 8) == 8);
  CHECK(resolve_bn_group(4, 8) == 4);
  dist::local_communicator comm;
  CHECK_THROWS_WITH_AS(engine(tiny_model(), tiny_moco(100), 8, comm), doctest::Contains("moco.K"),
                       config_error);
}

TEST_CASE("momentum update follows k = m k + (1 - m) q on parameters only") {
  torch::manual_seed(1);
  model::resnet q(tiny_model()), k(tiny_model());
  {
    // Make the BN buffers differ so we can see they are left alone.
    torch::NoGradGuard g;
    for (auto& b : k->buffers()) b.fill_(3);
  }
  std::vector<torch::Tensor> q0, k0, kb0;
  for (auto& p : q->parameters()) q0.push_back(p.detach().clone());
  for (auto& p : k->parameters()) k0.push_back(p.detach().clone());
  for (auto& b : k->buffers()) kb0.push_back(b.clone());
  momentum_update(*k, *q, 0.9);
  auto kp = k->parameters();
  for (std::size_t i = 0; i < kp.size(); ++i) CHECK(same(kp[i], 0.9 * k0[i] + 0.1 * q0[i], 1e-6));
  auto kb = k->buffers();
  for (std::size_t i = 0; i < kb.size(); ++i) CHECK(torch::equal(kb[i], kb0[i]));
  // The multi-tensor update is the per-tensor mul_ then add_, bit for bit.
  std::vector<torch::Tensor> k1;
  for (auto& p : kp) k1.push_back(p.detach().clone());
  momentum_update(*k, *q, 0.9);
  for (std::size_t i = 0; i < kp.size(); ++i)
    CHECK(torch::equal(kp[i], k1[i].mul_(0.9).add_(q0[i], 1.0 - 0.9)));
}

TEST_CASE("shuffle permutation: a permutation, keyed by (seed, epoch, step)") {
  auto p = shuffle_permutation(5, 1, 2, 64);
  CHECK(torch::equal(std::get<0>(p.sort()), torch::arange(64, torch::kLong)));
  CHECK(torch::equal(p, shuffle_permutation(5, 1, 2, 64)));
  CHECK(!torch::equal(p, shuffle_permutation(5, 1, 3, 64)));
  CHECK(!torch::equal(p, shuffle_permutation(5, 2, 2, 64)));
  CHECK(!torch::equal(p, torch::arange(64, torch::kLong)));
}

TEST_CASE("key positions: the ranks' slices of the permutation, covering the global batch") {
  const auto perm = shuffle_permutation(5, 1, 2, 16);
  std::vector<std::int64_t> all;
  for (int r = 0; r < 4; ++r) {
    const auto pos = key_positions(5, 1, 2, 4, r, 4);
    REQUIRE(pos.size() == 4);
    for (std::size_t j = 0; j < 4; ++j)
      CHECK(pos[j] == perm[r * 4 + static_cast<int>(j)].item<std::int64_t>());
    all.insert(all.end(), pos.begin(), pos.end());
  }
  std::sort(all.begin(), all.end());
  for (std::int64_t i = 0; i < 16; ++i) CHECK(all[static_cast<std::size_t>(i)] == i);
  CHECK_THROWS_AS(key_positions(5, 1, 2, 4, 4, 4), error);
}

TEST_CASE("moco.shuffle_bn: gather | local | off, older booleans, a clear error otherwise") {
  auto parse = [](const std::string& v) {
    auto cfg = config::from_string("[moco]\nshuffle_bn = " + v + "\n", "test");
    return moco_options_from(cfg, "moco", 1).shuffle_bn;
  };
  CHECK(parse("\"gather\"") == shuffle_mode::gather);
  CHECK(parse("\"local\"") == shuffle_mode::local);
  CHECK(parse("\"off\"") == shuffle_mode::off);
  CHECK(parse("true") == shuffle_mode::gather);
  CHECK(parse("false") == shuffle_mode::off);
  CHECK(moco_options_from(config::from_string("", "test"), "moco", 1).shuffle_bn ==
        shuffle_mode::gather);
  try {
    parse("\"sideways\"");
    FAIL("accepted shuffle_bn = sideways");
  } catch (const config_error& e) {
    CHECK(std::string(e.what()).find("moco.shuffle_bn") != std::string::npos);
    CHECK(std::string(e.what()).find("sideways") != std::string::npos);
  }
}

TEST_CASE("bn_group chunking: one batch of 2B with bn_group B equals two separate batches") {
  torch::manual_seed(2);
  model::resnet f(tiny_model());
  f->train();
  torch::NoGradGuard g;
  auto x = torch::randn({8, 3, 32, 32});
  auto chunked = encode_chunked(f, x, 4);
  auto separate = torch::cat({f->forward(x.narrow(0, 0, 4)), f->forward(x.narrow(0, 4, 4))});
  CHECK(same(chunked, separate));
  // ... and differs from whole-batch statistics, so the grouping is real.
  CHECK(!same(chunked, f->forward(x), 1e-3));
  CHECK(same(encode_chunked(f, x, 0), f->forward(x)));
}

TEST_CASE("engine: loss at init is close to log(1 + K); key encoder gets no gradient") {
  torch::manual_seed(3);
  dist::local_communicator comm;
  const std::int64_t K = 256, B = 16;
  engine e(tiny_model(), tiny_moco(K, 8), B, comm);
  CHECK(e.bn_group() == 8);
  // The published "loss at init ~ log(1+K)" is the plateau once the queue holds the untrained
  // model's own keys, for which a positive is no closer than a negative. Fill the queue with
  // K/B steps at learning rate 0, then measure.
  {
    torch::optim::SGD frozen(e.encoder_q()->parameters(), torch::optim::SGDOptions(0.0));
    for (std::int64_t s = 0; s < K / B; ++s)
      e.train_step(torch::randn({B, 3, 32, 32}), torch::randn({B, 3, 32, 32}), 0, s, frozen);
    CHECK(e.queue().ptr() == 0);
  }
  auto v1 = torch::randn({B, 3, 32, 32}), v2 = torch::randn({B, 3, 32, 32});
  const double l0 = e.loss(v1, v2, 0, 99).item<double>();
  MESSAGE("loss at init " << l0 << " vs log(1+K) " << std::log(1.0 + K));
  CHECK(std::abs(l0 - std::log(1.0 + K)) < 0.05 * std::log(1.0 + K));

  // One step: the key encoder moves only by the momentum formula, from the query encoder as it
  // was before the optimiser step, and never receives a gradient. Move the key encoder away
  // from the query encoder first so the formula is visible.
  {
    torch::NoGradGuard g;
    for (auto& p : e.encoder_k()->parameters()) p.add_(0.01 * torch::randn_like(p));
  }
  std::vector<torch::Tensor> q0, k0;
  for (auto& p : e.encoder_q()->parameters()) q0.push_back(p.detach().clone());
  for (auto& p : e.encoder_k()->parameters()) k0.push_back(p.detach().clone());
  auto queue0 = e.queue().keys().clone();
  torch::optim::SGD opt(e.encoder_q()->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  auto r = e.train_step(v1, v2, 0, 99, opt);
  CHECK(std::isfinite(r.loss));
  auto kp = e.encoder_k()->parameters();
  for (std::size_t i = 0; i < kp.size(); ++i) {
    CHECK(!kp[i].grad().defined());
    CHECK(!kp[i].requires_grad());
    CHECK(same(kp[i], 0.99 * k0[i] + 0.01 * q0[i], 1e-6));
  }
  // The query encoder did move.
  CHECK(!torch::equal(e.encoder_q()->parameters()[0], q0[0]));
  // Enqueue: B rows written at ptr 0, rest untouched, ptr advanced, rows normalised.
  CHECK(e.queue().ptr() == B);
  CHECK(torch::equal(e.queue().keys().narrow(0, B, K - B), queue0.narrow(0, B, K - B)));
  CHECK(!torch::equal(e.queue().keys().narrow(0, 0, B), queue0.narrow(0, 0, B)));
  CHECK(same(e.queue().keys().narrow(0, 0, B).norm(2, 1), torch::ones({B})));
}

TEST_CASE("engine: the loss uses the queue from before this step's enqueue") {
  torch::manual_seed(4);
  dist::local_communicator comm;
  const std::int64_t K = 32, B = 8;
  auto mo = tiny_moco(K);
  mo.m = 1.0;  // key encoder frozen: keys depend only on the inputs
  engine e(tiny_model(), mo, B, comm);
  auto v1 = torch::randn({B, 3, 32, 32}), v2 = torch::randn({B, 3, 32, 32});
  const double expect = e.loss(v1, v2, 0, 0).item<double>();  // queue before enqueue
  torch::optim::SGD opt(e.encoder_q()->parameters(), torch::optim::SGDOptions(0.0));
  CHECK(e.train_step(v1, v2, 0, 0, opt).loss == doctest::Approx(expect).epsilon(1e-5));
  // After the enqueue the same inputs see their own keys among the negatives.
  CHECK(e.loss(v1, v2, 0, 0).item<double>() != doctest::Approx(expect).epsilon(1e-3));
}

TEST_CASE("engine: 1 rank, batch 2B, bn_group B equals two chunks of B run by hand") {
  torch::manual_seed(5);
  dist::local_communicator comm;
  const std::int64_t K = 64, B = 4;
  auto mo = tiny_moco(K, B);
  engine e(tiny_model(), mo, 2 * B, comm);
  auto v1 = torch::randn({2 * B, 3, 32, 32}), v2 = torch::randn({2 * B, 3, 32, 32});
  torch::NoGradGuard g;
  e.encoder_q()->train();
  e.encoder_k()->train();
  // What two ranks of batch B compute: each rank's queries in its own BN group; keys from the
  // shuffled global batch, slice r encoded alone; loss averaged over ranks.
  auto norm = [](const torch::Tensor& t) {
    return torch::nn::functional::normalize(t,
                                            torch::nn::functional::NormalizeFuncOptions().dim(1));
  };
  auto perm = shuffle_permutation(mo.seed, 0, 0, 2 * B);
  auto sh = v2.index_select(0, perm);
  auto ks = torch::cat({norm(e.encoder_k()->forward(sh.narrow(0, 0, B))),
                        norm(e.encoder_k()->forward(sh.narrow(0, B, B)))});
  auto k = torch::empty_like(ks).index_copy_(0, perm, ks);
  double loss = 0;
  for (int r = 0; r < 2; ++r) {
    auto q = norm(e.encoder_q()->forward(v1.narrow(0, r * B, B)));
    loss += info_nce(moco_logits(q, k.narrow(0, r * B, B), e.queue().keys(), mo.T)).item<double>();
  }
  CHECK(e.loss(v1, v2, 0, 0).item<double>() == doctest::Approx(loss / 2).epsilon(1e-5));
}
