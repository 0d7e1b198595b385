// Two MoCo v2 steps of skyssl's engine (one rank, local communicator) against a plain PyTorch
// restatement of facebookresearch/moco's builder.py order (torch_reference.py), from the same
// initial weights, queue, views and shuffle-BN permutation. Two steps, so that SGD's momentum
// buffer, the key encoder's EMA and the queue written by step 1 all show in step 2. With
// bn_group 4 of a batch of 8, the key encoder sees two BN groups of the shuffled batch, so the
// permutation matters. Forward quantities (logits, loss, weights, queue) must agree to 1e-5
// relative, gradients to 1e-4.
// Each reference step after the first starts from skyssl's state after the previous step
// (both encoders, queue, pointer; SGD's momentum buffer stays the reference's own): the two
// implementations differ by float rounding (einsum against mul-sum, fused EMA), and a ReLU
// whose input sits within rounding of 0 can turn that into 1e-2 in a later step's gradients
// (perturbing the reference's own initial weights by 1e-6 does the same), while every step is
// still checked from a state the previous check accepted.
#include "golden_io.hpp"
#include <torch/optim/sgd.h>
#include <torch/utils.h>

#include "skyssl/dist/local_communicator.hpp"
#include "skyssl/moco/engine.hpp"

using namespace skyssl;
using namespace skyssl::test::golden;

namespace {

constexpr double lr = 0.1, sgd_momentum = 0.9, weight_decay = 1e-4;
constexpr std::int64_t batch = 8, steps = 2, epoch = 3;

void add_state(tensor_map& m, const std::string& prefix, model::resnet& net) {
  for (const auto& kv : net->named_parameters()) m[prefix + kv.key()] = kv.value().detach().clone();
  for (const auto& kv : net->named_buffers()) m[prefix + kv.key()] = kv.value().clone();
}

}  // namespace

TEST_CASE("MoCo v2 step: logits, loss, gradients, weights and queue match the reference") {
  model::resnet_options mo{18, 8, 3, true, 0};
  moco::moco_options o;
  o.K = 32;   // 4 global batches: step 2 reads keys that step 1 wrote
  o.m = 0.9;  // far from 1, so a wrong EMA is visible after one step
  o.T = 0.2;
  o.dim = 16;
  o.bn_group = 4;
  o.shuffle_bn = moco::shuffle_mode::gather;
  o.seed = 5;
  torch::manual_seed(3);
  dist::local_communicator comm;
  moco::engine eng(mo, o, batch, comm);
  torch::optim::SGD opt(
      eng.encoder_q()->parameters(),
      torch::optim::SGDOptions(lr).momentum(sgd_momentum).weight_decay(weight_decay));
  tensor_map in, mine;
  in["depth"] = torch::tensor(18);
  in["width"] = torch::tensor(8);
  in["in_channels"] = torch::tensor(3);
  in["sdss"] = torch::tensor(1);
  in["head_dim"] = torch::tensor(o.dim);
  add_state(in, "q/sd.", eng.encoder_q());
  for (const char* k : {"depth", "width", "in_channels", "sdss", "head_dim"})
    in[std::string("q/") + k] = in[k];
  in["queue"] = eng.queue().keys().clone();
  in["m"] = torch::tensor(o.m);
  in["T"] = torch::tensor(o.T);
  in["bn_group"] = torch::tensor(o.bn_group);
  in["steps"] = torch::tensor(steps);
  in["lr"] = torch::tensor(lr);
  in["momentum"] = torch::tensor(sgd_momentum);
  in["wd"] = torch::tensor(weight_decay);

  for (std::int64_t s = 0; s < steps; ++s) {
    const auto p = fmt::format("step{}/", s);
    const auto v1 = torch::randn({batch, 3, 16, 16}), v2 = torch::randn({batch, 3, 16, 16});
    in[p + "view1"] = v1;
    in[p + "view2"] = v2;
    // The permutation the engine draws for (seed, epoch, step): the reference takes it as
    // given (its own RNG is not Philox); a wrong key in the engine breaks the match.
    in[p + "perm"] = moco::shuffle_permutation(o.seed, epoch, s, batch);
    const auto r = eng.train_step(v1, v2, epoch, s, opt);
    mine[p + "logits"] = r.logits;
    mine[p + "loss"] = torch::tensor(r.loss, torch::kFloat32);
    // train_step leaves this step's (averaged) gradients in place until the next zero_grad.
    for (const auto& kv : eng.encoder_q()->named_parameters())
      mine[p + "grad." + kv.key()] = kv.value().grad().clone();
    add_state(mine, p + "q.", eng.encoder_q());
    add_state(mine, p + "k.", eng.encoder_k());
    mine[p + "queue"] = eng.queue().keys().clone();
    mine[p + "ptr"] = torch::tensor(eng.queue().ptr());
    // The next step of the reference starts from this state (see the top of the file).
    const auto next = fmt::format("step{}/start.", s + 1);
    add_state(in, next + "q.", eng.encoder_q());
    add_state(in, next + "k.", eng.encoder_k());
    in[next + "queue"] = eng.queue().keys().clone();
    in[next + "ptr"] = torch::tensor(eng.queue().ptr());
  }

  const auto ref = compare_with_reference("moco", in, mine, [](const std::string& key) {
    return key.find("/grad.") != std::string::npos ? 1e-4 : 1e-5;
  });
  // The pointer is exact: two batches of 8 into a queue of 32.
  CHECK(lookup(ref, "step1/ptr").item<std::int64_t>() == 16);
  CHECK(eng.queue().ptr() == 16);
}
