// Dynamic loss scaling (moco/loss_scaler): skip + halve on inf/NaN, growth after N good steps,
// exact unscaling (powers of two), state round trip; and inside the engine, a scaled step equals
// the unscaled one bit for bit, while a step with injected inf gradients changes nothing.
#include "tests/support/torch_doctest.hpp"
#include <torch/optim/sgd.h>
#include <torch/utils.h>

#include <cmath>
#include <limits>

#include "skyssl/core/error.hpp"
#include "skyssl/dist/local_communicator.hpp"
#include "skyssl/moco/engine.hpp"
#include "skyssl/moco/loss_scaler.hpp"
#include "tests/support/tiny_moco.hpp"

using namespace skyssl;
using namespace skyssl::moco;

namespace {

loss_scaler scaler(double init, std::int64_t interval) {
  return loss_scaler(loss_scaler_options{true, init, interval});
}

using test::tiny_moco;
using test::tiny_model;

struct run {
  dist::local_communicator comm;
  std::unique_ptr<engine> e;
  std::unique_ptr<torch::optim::SGD> opt;
  explicit run(const loss_scaler& s, bool channels_last = false) {
    torch::manual_seed(3);
    e = std::make_unique<engine>(tiny_model(), tiny_moco(32), 8, comm);
    e->set_loss_scaler(s);
    e->set_channels_last(channels_last);
    opt = std::make_unique<torch::optim::SGD>(e->encoder_q()->parameters(),
                                              torch::optim::SGDOptions(0.1).momentum(0.9));
  }
  std::vector<torch::Tensor> params() {
    std::vector<torch::Tensor> out;
    for (auto& p : e->encoder_q()->parameters()) out.push_back(p.detach().clone());
    for (auto& p : e->encoder_k()->parameters()) out.push_back(p.detach().clone());
    return out;
  }
};

bool all_equal(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (!torch::equal(a[i], b[i])) return false;
  return true;
}

}  // namespace

TEST_CASE("loss scaler: halves and skips on inf/NaN, doubles after growth_interval good steps") {
  auto s = scaler(16, 3);
  CHECK(s.scale() == 16);
  s.update(true);
  s.update(true);
  CHECK(s.scale() == 16);
  CHECK(s.good_steps() == 2);
  s.update(true);  // third good step in a row
  CHECK(s.scale() == 32);
  CHECK(s.good_steps() == 0);
  s.update(true);
  s.update(false);  // an overflow restarts the streak
  CHECK(s.scale() == 16);
  CHECK(s.good_steps() == 0);
  CHECK(s.skipped_steps() == 1);
  s.update(true);
  s.update(true);
  CHECK(s.scale() == 16);
  s.update(true);
  CHECK(s.scale() == 32);

  loss_scaler off;  // disabled: scale 1, nothing changes
  CHECK(!off.enabled());
  off.update(false);
  CHECK(off.scale() == 1);
  CHECK(off.skipped_steps() == 0);
}

TEST_CASE("loss scaler: unscaling is exact and finds injected inf and NaN") {
  auto s = scaler(1024, 10);
  const auto a = torch::randn({5, 7}), b = torch::randn({3});
  std::vector<torch::Tensor> g = {a * 1024, b * 1024};
  CHECK(s.unscale(g));
  CHECK(torch::equal(g[0], a));
  CHECK(torch::equal(g[1], b));
  CHECK(torch::equal(s.scale_loss(a), a * 1024));
  for (const float bad :
       {std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
        std::numeric_limits<float>::quiet_NaN()}) {
    std::vector<torch::Tensor> h = {a.clone(), b.clone()};
    h[1][2] = bad;
    CHECK_FALSE(s.unscale(h));
  }
  loss_scaler off;
  std::vector<torch::Tensor> h = {a.clone()};
  h[0][0][0] = std::numeric_limits<float>::infinity();
  CHECK(off.unscale(h));  // disabled: no check, no change
  CHECK(torch::equal(off.scale_loss(a), a));
}

TEST_CASE("loss scaler: state round trip; bad options and bad states are refused") {
  auto s = scaler(256, 2);
  s.update(true);
  s.update(false);
  s.update(true);
  auto t = scaler(8, 2);
  t.load_state(s.state(), "ck");
  CHECK(t.scale() == 128);
  CHECK(t.good_steps() == 1);
  CHECK(t.skipped_steps() == 1);
  t.update(true);  // continues the streak it was handed
  CHECK(t.scale() == 256);
  CHECK_THROWS_WITH_AS(t.load_state(torch::tensor({3.0, 0.0, 0.0}, torch::kFloat64), "ck-7"),
                       doctest::Contains("ck-7"), checkpoint_error);
  CHECK_THROWS_AS(t.load_state(torch::tensor({2.0, 0.0}, torch::kFloat64), "ck"), checkpoint_error);
  CHECK_THROWS_WITH_AS(scaler(1000, 5), doctest::Contains("power of two"), error);
  CHECK_THROWS_AS(scaler(1024, 0), error);
}

TEST_CASE("engine: a step with a power-of-two loss scale equals the unscaled step bit for bit") {
  const auto v1 = torch::randn({8, 3, 32, 32}), v2 = torch::randn({8, 3, 32, 32});
  run plain(loss_scaler{}), scaled(scaler(1024, 1));
  for (int step = 0; step < 2; ++step) {
    const auto a = plain.e->train_step(v1, v2, 0, step, *plain.opt);
    const auto b = scaled.e->train_step(v1, v2, 0, step, *scaled.opt);
    CHECK(a.loss == b.loss);  // the reported loss is the unscaled one
    CHECK_FALSE(b.skipped);
  }
  CHECK(all_equal(plain.params(), scaled.params()));
  CHECK(scaled.e->scaler().scale() == 4096);  // grew after each good step (interval 1)
}

TEST_CASE("engine: injected inf gradients skip the optimiser step and halve the scale") {
  const auto v1 = torch::randn({8, 3, 32, 32}), v2 = torch::randn({8, 3, 32, 32});
  run r(scaler(1024, 100));
  r.e->train_step(v1, v2, 0, 0, *r.opt);  // one good step: momentum buffers exist
  bool inject = true;
  r.e->set_gradient_reducer([&inject](std::vector<torch::Tensor>& g) {
    if (inject) g[3].view({-1})[0] = std::numeric_limits<float>::infinity();
  });
  const auto before = r.params();
  const auto q_before = std::vector<torch::Tensor>(
      before.begin(), before.begin() + static_cast<long>(before.size() / 2));
  const auto res = r.e->train_step(v1, v2, 0, 1, *r.opt);
  CHECK(res.skipped);
  CHECK(std::isfinite(res.loss));
  CHECK(r.e->scaler().scale() == 512);
  CHECK(r.e->scaler().skipped_steps() == 1);
  // The query encoder is untouched; the key encoder still took its momentum update (as in
  // PyTorch's MoCo under GradScaler).
  auto after = r.params();
  CHECK(all_equal(q_before, {after.begin(), after.begin() + static_cast<long>(after.size() / 2)}));
  inject = false;
  const auto ok = r.e->train_step(v1, v2, 0, 2, *r.opt);
  CHECK_FALSE(ok.skipped);
  CHECK(r.e->scaler().good_steps() == 1);
  CHECK_FALSE(all_equal(q_before, r.params()));
}

TEST_CASE("engine: channels-last encoders give the contiguous loss within float tolerance") {
  torch::manual_seed(11);
  const auto v1 = torch::randn({8, 3, 32, 32}), v2 = torch::randn({8, 3, 32, 32});
  run plain(loss_scaler{}), nhwc(loss_scaler{}, true);
  CHECK(nhwc.e->channels_last());
  const auto w = nhwc.e->encoder_q()->parameters()[0];
  REQUIRE(w.dim() == 4);
  CHECK(w.is_contiguous(torch::MemoryFormat::ChannelsLast));
  CHECK_FALSE(w.is_contiguous());
  CHECK(all_equal(plain.params(), nhwc.params()));  // same values, other strides
  for (int step = 0; step < 3; ++step) {
    const auto a = plain.e->train_step(v1, v2, 0, step, *plain.opt);
    const auto b = nhwc.e->train_step(v1, v2, 0, step, *nhwc.opt);
    // Step 0 starts from identical weights: only the convolutions' summation order differs.
    // Later steps start from weights that differ by that rounding, amplified by BatchNorm over
    // 8 images (gradients of BN biases are sums that nearly cancel): ~1e-5 relative.
    CHECK(b.loss == doctest::Approx(a.loss).epsilon(step == 0 ? 1e-6 : 1e-4));
  }
  const auto pa = plain.params(), pb = nhwc.params();
  for (std::size_t i = 0; i < pa.size(); ++i) {
    const double scale = pa[i].abs().max().item<double>();
    CHECK_MESSAGE((pa[i] - pb[i]).abs().max().item<double>() <= 1e-3 * scale + 1e-7, i);
  }
}
