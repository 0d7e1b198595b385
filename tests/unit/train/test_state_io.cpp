// Snapshot and restore of the whole training state (lib/skyssl/train/state_io): a run stopped
// by a signal and continued from its checkpoint ends exactly where an uninterrupted run ends.
#include "tests/support/torch_doctest.hpp"

#include <cmath>
#include <csignal>
#include <fstream>

#include "skyssl/core/config.hpp"
#include "skyssl/core/error.hpp"
#include "skyssl/dist/local_communicator.hpp"
#include "skyssl/train/checkpoint.hpp"
#include "skyssl/train/state_io.hpp"
#include "skyssl/train/stop_signals.hpp"
#include "skyssl/train/trainer.hpp"
#include "tests/support/test_paths.hpp"

using namespace skyssl;
using namespace skyssl::train;
namespace fs = std::filesystem;

namespace {

const char* tiny = R"(
[model]
arch = "resnet18"
width = 8
[moco]
K = 64
m = 0.99
T = 0.2
dim = 16
bn_group = 8
[train]
epochs = 3
global_batch = 16
base_lr = 0.3
warmup_epochs = 1
seed = 5
log_every = 1
threads = 1
[checkpoint]
every_steps = 0
every_minutes = 0
)";

// 64 fixed samples: 4 steps per epoch, 12 steps in all.
struct fixture {
  dist::local_communicator comm;
  config cfg = config::from_string(tiny, "tiny");
  torch::Tensor v1 = torch::randn({64, 3, 32, 32}, torch::TensorOptions().dtype(torch::kFloat32)),
                v2 = torch::randn({64, 3, 32, 32});
};

// Raises SIGUSR1 when asked for the batch of global step `at`: the pipeline reads ahead, so
// the run stops a step or two earlier, wherever; resume must not care.
class stopping_source final : public view_source {
 public:
  stopping_source(tensor_source& s, std::int64_t at) : s_(s), at_(at) {}
  std::int64_t steps_per_epoch() const override { return s_.steps_per_epoch(); }
  int channels() const override { return s_.channels(); }
  void start(std::int64_t e, std::int64_t st) override { s_.start(e, st); }
  view_batch next() override {
    auto b = s_.next();
    if (b.epoch * s_.steps_per_epoch() + b.step == at_) std::raise(SIGUSR1);
    return b;
  }

 private:
  tensor_source& s_;
  std::int64_t at_;
};

fs::path fresh_state_dir(const std::string& name) {
  auto d = skyssl::test::tmp_dir("state_io") / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::vector<double> losses(const fs::path& run) {
  std::ifstream in(run / "metrics.jsonl");
  std::vector<double> out;
  for (std::string l; std::getline(in, l);)
    if (l.find("\"event\"") == std::string::npos) {
      const auto at = l.find("\"loss\":");
      out.push_back(std::stod(l.substr(at + 7)));
    }
  return out;
}

void check_same_tensors(const model::tensor_map& a, const model::tensor_map& b) {
  REQUIRE(a.size() == b.size());
  for (const auto& [n, t] : a) {
    REQUIRE_MESSAGE(b.count(n), n);
    CHECK_MESSAGE(torch::equal(t, b.at(n)), n);
  }
}

}  // namespace

TEST_CASE("stopped by SIGUSR1 and resumed: the same weights, momentum, queue and losses") {
  install_stop_handlers();
  clear_stop_signal();
  fixture f;
  torch::manual_seed(0);
  tensor_source data(f.v1, f.v2, 16);

  const auto whole = fresh_state_dir("whole");
  auto a =
      make_state(skyssl::train::run_options_from(f.cfg, f.comm), f.comm, 3, data.steps_per_epoch());
  const auto ra = train::train(a, data, f.comm, whole);
  CHECK(ra.stop_signal == 0);
  CHECK(ra.steps == 12);
  // K = 64 = 4 global batches: the fifth step is the first with a queue of real keys.
  CHECK(ra.first_loss_step == 5);
  CHECK(a.global_step == 12);

  const auto parts = fresh_state_dir("parts");
  auto b =
      make_state(skyssl::train::run_options_from(f.cfg, f.comm), f.comm, 3, data.steps_per_epoch());
  stopping_source stopping(data, 7);
  const auto rb = train::train(b, stopping, f.comm, parts);
  clear_stop_signal();
  CHECK(rb.stop_signal == SIGUSR1);
  MESSAGE("stopped after step " << b.global_step);
  CHECK(b.global_step >= 4);
  CHECK(b.global_step <= 8);
  const auto ckpts = list_checkpoints(checkpoints_dir(parts));
  REQUIRE(ckpts.size() == 1);
  CHECK(ckpts[0].filename() == checkpoint_name(b.global_step));

  // A new process would build a fresh state from the config, then restore.
  auto c =
      make_state(skyssl::train::run_options_from(f.cfg, f.comm), f.comm, 3, data.steps_per_epoch());
  const auto ck = read_checkpoint(ckpts[0]);
  restore_state(c, ck, f.comm, ckpts[0].string());
  CHECK(c.global_step == b.global_step);
  CHECK(c.epoch == b.epoch);
  CHECK(c.step == b.step);
  const auto rc = train::train(c, data, f.comm, parts);
  CHECK(rc.stop_signal == 0);
  CHECK(c.global_step == 12);

  check_same_tensors(read_checkpoint(checkpoints_dir(whole) / "ckpt-12").tensors,
                     read_checkpoint(checkpoints_dir(parts) / "ckpt-12").tensors);
  const auto lw = losses(whole), lp = losses(parts);
  REQUIRE(lw.size() == 12);
  CHECK(lw == lp);
}

TEST_CASE("a checkpoint that does not fit the model is refused, naming the tensor") {
  fixture f;
  tensor_source data(f.v1, f.v2, 16);
  auto s =
      make_state(skyssl::train::run_options_from(f.cfg, f.comm), f.comm, 3, data.steps_per_epoch());
  auto snap = snapshot_state(s, f.comm);
  CHECK(snap.tensors.count("queue.keys") == 1);
  CHECK(snap.tensors.count("interval.sums") == 1);
  // No step yet: SGD has no momentum buffers to save.
  for (const auto& [n, t] : snap.tensors) CHECK_MESSAGE(n.rfind("momentum.", 0) != 0, n);
  auto bad = snap;
  bad.tensors["encoder_q.conv1.weight"] = torch::zeros({1, 1, 1, 1});
  CHECK_THROWS_WITH_AS(restore_state(s, bad, f.comm, "ck"),
                       doctest::Contains("encoder_q.conv1.weight"), checkpoint_error);
  bad = snap;
  bad.tensors.erase("queue.keys");
  CHECK_THROWS_WITH_AS(restore_state(s, bad, f.comm, "ck"), doctest::Contains("queue.keys"),
                       checkpoint_error);
  bad = snap;
  bad.tensors["encoder_k.extra"] = torch::zeros({2});
  CHECK_THROWS_WITH_AS(restore_state(s, bad, f.comm, "ck"), doctest::Contains("encoder_k.extra"),
                       checkpoint_error);
  // The queue's write pointer indexes its rows on the next enqueue: one integer in [0, K).
  const auto K = snap.tensors.at("queue.keys").size(0);
  for (const auto& ptr : {torch::tensor({K}, torch::kInt64), torch::tensor({-1}, torch::kInt64),
                          torch::tensor({0, 1}, torch::kInt64), torch::tensor({1.5})}) {
    CAPTURE(ptr);
    bad = snap;
    bad.tensors["queue.ptr"] = ptr;
    CHECK_THROWS_WITH_AS(restore_state(s, bad, f.comm, "ck"), doctest::Contains("'ck': queue.ptr"),
                         checkpoint_error);
  }
  bad = snap;
  bad.tensors["interval.sums"] = torch::full({1, 3}, std::nan(""), torch::kFloat64);
  CHECK_THROWS_WITH_AS(restore_state(s, bad, f.comm, "ck"), doctest::Contains("interval.sums"),
                       checkpoint_error);
}

TEST_CASE("a non-finite loss stops training, naming the epoch and step") {
  fixture f;
  auto v1 = f.v1.clone();
  v1[5][0][3][3] = std::nanf("");  // one pixel of one sample in the first batch
  tensor_source data(v1, f.v2, 16);
  auto s =
      make_state(skyssl::train::run_options_from(f.cfg, f.comm), f.comm, 3, data.steps_per_epoch());
  CHECK_THROWS_WITH_AS(train::train(s, data, f.comm, fresh_state_dir("nan")),
                       doctest::Contains("loss is nan at epoch 0 step 0"), error);
}

TEST_CASE("fp16 loss scaler state goes through a checkpoint on disk and comes back") {
  fixture f;
  tensor_source data(f.v1, f.v2, 16);
  auto s =
      make_state(skyssl::train::run_options_from(f.cfg, f.comm), f.comm, 3, data.steps_per_epoch());
  CHECK_FALSE(s.moco->scaler().enabled());  // fp32: nothing saved
  CHECK(snapshot_state(s, f.comm).tensors.count("scaler.state") == 0);
  s.moco->set_loss_scaler(moco::loss_scaler({true, 4096, 3}));
  s.moco->scaler().update(true);
  s.moco->scaler().update(false);
  s.moco->scaler().update(true);  // scale 2048, streak 1, one skipped
  const auto dir = write_checkpoint(fresh_state_dir("scaler"), snapshot_state(s, f.comm));
  const auto back = read_checkpoint(dir);
  REQUIRE(back.tensors.count("scaler.state") == 1);
  auto t =
      make_state(skyssl::train::run_options_from(f.cfg, f.comm), f.comm, 3, data.steps_per_epoch());
  t.moco->set_loss_scaler(moco::loss_scaler({true, 4096, 3}));
  restore_state(t, back, f.comm, dir.string());
  CHECK(t.moco->scaler().scale() == 2048);
  CHECK(t.moco->scaler().good_steps() == 1);
  CHECK(t.moco->scaler().skipped_steps() == 1);
  auto missing = back;
  missing.tensors.erase("scaler.state");
  CHECK_THROWS_WITH_AS(restore_state(t, missing, f.comm, "ck-3"), doctest::Contains("scaler.state"),
                       checkpoint_error);
}
