// The input pipeline's stages on the CPU: the staging pool's recycling (a slot never goes back
// to the reader while the step that used it may still run, checked with a fake event), the
// copy stage as the identity (views through train::pipeline equal the kernels' on the
// reader's batches, bit for bit), and augment.threads through the trainer (a 1-step run at 1
// and 2 threads: the same loss and weights, bit for bit).
#include "tests/support/torch_doctest.hpp"

#include <fmt/format.h>

#include <atomic>
#include <cmath>
#include <deque>
#include <mutex>
#include <set>
#include <chrono>
#include <cstring>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <thread>

#include "kernels/augment.hpp"
#include "kernels/augment_threads.hpp"
#include "skyssl/core/bounded_queue.hpp"
#include "skyssl/core/config.hpp"
#include "skyssl/core/error.hpp"
#include "skyssl/data/options.hpp"
#include "skyssl/data/shard_reader.hpp"
#include "skyssl/data/synth.hpp"
#include "skyssl/data/writer.hpp"
#include "skyssl/dist/local_communicator.hpp"
#include "skyssl/train/archive_source.hpp"
#include "skyssl/train/device_copy.hpp"
#include "skyssl/train/options.hpp"
#include "skyssl/train/pipeline.hpp"
#include "skyssl/train/staging_pool.hpp"
#include "skyssl/train/trainer.hpp"
#include "tests/support/synth_survey.hpp"
#include "tests/support/test_paths.hpp"
#include "tests/support/tiny_train_config.hpp"

using namespace skyssl;
namespace fs = std::filesystem;

namespace {

// A fake device event: done when the test says the step it follows has finished.
struct fake_step {
  std::atomic<bool> finished{false};
};
class fake_completion final : public train::completion {
 public:
  explicit fake_completion(std::shared_ptr<fake_step> s) : s_(std::move(s)) {}
  bool done() const override { return s_->finished.load(); }
  void wait() const override {
    while (!s_->finished.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }

 private:
  std::shared_ptr<fake_step> s_;
};

// The markers recorded so far, in order (one per released batch).
struct fake_device {
  std::mutex mu;
  std::vector<std::shared_ptr<fake_step>> steps;
  train::staging_pool::marker marker() {
    return [this] {
      auto s = std::make_shared<fake_step>();
      std::lock_guard<std::mutex> lk(mu);
      steps.push_back(s);
      return std::make_unique<fake_completion>(s);
    };
  }
  std::shared_ptr<fake_step> step(std::size_t k) {
    std::lock_guard<std::mutex> lk(mu);
    return k < steps.size() ? steps[k] : nullptr;
  }
};

const void* storage_of(const train::staging_pool::handle& h) {
  return h->empty() ? nullptr : (*h)[0].data_ptr();
}
void fill(const train::staging_pool::handle& h) {
  if (h->empty()) h->push_back(torch::zeros({16}, torch::kFloat32));
}

}  // namespace

TEST_CASE("staging_pool: a slot is reused only after its step's marker is done") {
  fake_device dev;
  train::staging_pool pool(2, dev.marker());
  auto a = pool.acquire();
  auto b = pool.acquire();
  fill(a);
  fill(b);
  const void* pa = storage_of(a);
  const void* pb = storage_of(b);
  CHECK(pool.held() == 2);
  // Every slot held: an untracked buffer, not one of the pool's.
  {
    auto extra = pool.acquire();
    CHECK(extra->empty());
    fill(extra);
    CHECK(storage_of(extra) != pa);
    CHECK(storage_of(extra) != pb);
    CHECK(pool.held() == 2);
  }
  CHECK(dev.step(0) == nullptr);  // dropping the untracked slot recorded nothing
  a.reset();                      // the step that used a has been enqueued, not finished
  REQUIRE(dev.step(0) != nullptr);
  CHECK(pool.held() == 1);
  CHECK(pool.pending() == 1);
  // The reader asks for a slot: a's step still runs, so it must wait.
  auto next = std::async(std::launch::async, [&] { return pool.acquire(); });
  CHECK(next.wait_for(std::chrono::milliseconds(100)) == std::future_status::timeout);
  dev.step(0)->finished = true;
  REQUIRE(next.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  auto again = next.get();
  CHECK(storage_of(again) == pa);  // the same pinned buffer, recycled
  CHECK(pool.waits() == 1);
  CHECK(pool.pending() == 0);
  // A finished step's slot is handed out without waiting.
  b.reset();
  dev.step(1)->finished = true;
  auto c = pool.acquire();
  CHECK(storage_of(c) == pb);
  CHECK(pool.waits() == 1);
}

TEST_CASE("staging_pool: in a running pipeline no slot is handed out while its step runs") {
  // Producer thread: acquires a slot per batch and checks it is not in use. Consumer: holds
  // up to 3 batches, releases them in order, and finishes each "step" some batches later.
  fake_device dev;
  train::staging_pool pool(3, dev.marker());
  std::mutex mu;
  std::set<const void*> busy;  // slots whose batch is held or whose step has not finished
  std::atomic<int> violations{0};
  bounded_queue<train::staging_pool::handle> q(2);
  std::thread producer([&] {
    for (int i = 0; i < 60; ++i) {
      auto h = pool.acquire();
      fill(h);
      {
        std::lock_guard<std::mutex> lk(mu);
        if (!busy.insert(storage_of(h)).second) ++violations;
      }
      if (!q.push(std::move(h))) return;
    }
    q.close();
  });
  std::deque<std::pair<const void*, std::size_t>> running;  // slot, its marker index
  std::size_t released = 0;
  while (auto h = q.pop()) {
    const void* p = storage_of(*h);
    h->reset();  // the step was enqueued: the marker is recorded now
    running.emplace_back(p, released++);
    if (running.size() > 2) {  // the device finishes steps two behind
      auto [slot, k] = running.front();
      running.pop_front();
      {
        std::lock_guard<std::mutex> lk(mu);
        busy.erase(slot);
      }
      dev.step(k)->finished = true;
    }
  }
  producer.join();
  CHECK(violations == 0);
  CHECK(released == 60);
  CHECK(pool.waits() > 0);  // the producer did have to wait for the device
}

TEST_CASE("device_copy on the CPU: a step marker is done at once") {
  train::device_copy copy(torch::kCPU);
  CHECK_FALSE(copy.active());
  const auto m = copy.mark_step();
  CHECK(m->done());
  m->wait();
}

namespace {

constexpr int size = 24;
constexpr std::int64_t count = 64;

fs::path survey() {
  static const fs::path path = [] {
    const auto dir = test::tmp_dir("input_pipeline");
    const auto p = dir / "survey.h5";
    test::write_synth_survey(p, 9, count, size);
    return p;
  }();
  return path;
}

config base_config(const std::vector<std::string>& sets = {}) {
  return test::tiny_train_config(survey(), 8, 1, sets);
}

bool bit_equal(const torch::Tensor& a, const torch::Tensor& b) {
  const auto x = a.contiguous(), y = b.contiguous();
  return x.sizes() == y.sizes() && x.dtype() == y.dtype() &&
         std::memcmp(x.data_ptr(), y.data_ptr(), static_cast<std::size_t>(x.nbytes())) == 0;
}

}  // namespace

TEST_CASE(
    "pipeline with the copy stage inactive: the views are the kernels' on the reader's batches") {
  for (int threads : {1, 2}) {
    CAPTURE(threads);
    const auto cfg = base_config({fmt::format("augment.threads={}", threads)});
    const std::uint64_t seed = 7;
    train::archive_source source(cfg, seed, 16, 0, 1);
    source.set_device(torch::kCPU);
    CHECK_FALSE(source.copies_to_device());
    CHECK(source.staging() == nullptr);
    // Today's path, written out: the reader's batch, augmented by the plain single-thread call.
    const auto d = data::data_options_from(cfg, "data");
    data::shard_reader reader(d.archive, d.reader, seed, 16, 0, 1);
    const auto aug = kernels::augment_config_from(cfg, "augment");
    const std::int64_t steps = 5;  // past the epoch's 4 steps: the pipeline rolls over
    // The expected views first: Kokkos' Serial dispatch is not safe from two threads at once
    // (one global scratch), so the kernels must not run here while the pipeline thread runs.
    std::vector<data::sample_batch> expect_batches;
    std::vector<kernels::two_views> expect;
    reader.start(0, 1);
    for (std::int64_t i = 0; i < steps; ++i) {
      expect_batches.push_back(reader.next());
      const auto& s = expect_batches.back();
      expect.push_back(
          kernels::augment_two_views(aug, s.images, s.ids, s.ebv, s.psf_fwhm, seed, s.epoch));
    }
    train::pipeline pipe(source, 0, 1, steps, 2, torch::kCPU);
    for (std::int64_t i = 0; i < steps; ++i) {
      CAPTURE(i);
      const auto b = pipe.next();
      const auto& s = expect_batches[static_cast<std::size_t>(i)];
      const auto& v = expect[static_cast<std::size_t>(i)];
      REQUIRE(b.epoch == s.epoch);
      REQUIRE(b.step == s.step);
      CHECK(b.hold == nullptr);  // nothing staged on the CPU
      CHECK(b.view1.device().is_cpu());
      CHECK(bit_equal(b.ids, s.ids));
      CHECK(bit_equal(b.view1, v.view1));
      CHECK(bit_equal(b.view2, v.view2));
      CHECK_FALSE(bit_equal(b.view1, b.view2));  // two different views, not one copied
    }
  }
}

TEST_CASE("a source that makes host tensors only refuses a CUDA device, naming train.device") {
  train::tensor_source src(torch::zeros({4, 3, 8, 8}), torch::zeros({4, 3, 8, 8}), 2);
  src.set_device(torch::kCPU);
  struct host_only final : train::view_source {
    std::int64_t steps_per_epoch() const override { return 1; }
    int channels() const override { return 3; }
    void start(std::int64_t, std::int64_t) override {}
    train::view_batch next() override { return {}; }
  } h;
  h.set_device(torch::kCPU);
  CHECK_THROWS_WITH_AS(h.set_device(torch::Device(torch::kCUDA, 0)),
                       doctest::Contains("train.device"), config_error);
}

namespace {
struct one_step {
  double loss = 0;
  std::vector<torch::Tensor> weights;
};
one_step train_one_step(const std::string& name, int threads) {
  const auto cfg = base_config({fmt::format("augment.threads={}", threads)});
  const auto run_dir = test::tmp_dir("input_pipeline") / name;
  fs::remove_all(run_dir);
  fs::create_directories(run_dir);
  dist::local_communicator comm;
  const auto topts = train::train_options_from(cfg, "train");
  train::archive_source source(cfg, topts.seed, topts.global_batch, 0, 1, &comm);
  auto state = train::make_state(skyssl::train::run_options_from(cfg, comm), comm,
                                 source.channels(), source.steps_per_epoch());
  const auto sum = train::train(state, source, comm, run_dir);
  REQUIRE(sum.steps == 1);
  one_step r;
  std::ifstream in(run_dir / "metrics.jsonl");
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line);
    if (!j.contains("event") && j.contains("loss")) r.loss = j["loss"];
  }
  for (const auto& p : state.moco->encoder_q()->parameters()) r.weights.push_back(p.clone());
  return r;
}
}  // namespace

TEST_CASE(
    "augment.threads through the trainer: step 1 at 1 and 2 threads is the same, bit for bit") {
  REQUIRE_MESSAGE(kernels::usable_cores() >= 2, "this test needs 2 CPUs for augment.threads = 2");
  const auto one = train_one_step("threads1", 1);
  const auto two = train_one_step("threads2", 2);
  CHECK(std::isfinite(one.loss));
  CHECK(one.loss > 0);
  CHECK(one.loss == two.loss);
  REQUIRE(one.weights.size() == two.weights.size());
  for (std::size_t k = 0; k < one.weights.size(); ++k) {
    CAPTURE(k);
    CHECK(bit_equal(one.weights[k], two.weights[k]));
  }
}
