// lib/skyssl/train/metrics: every key of a step record, event records, the progress line and
// durations, the phase times and the end-of-run summary.
#include "skyssl/moco/engine.hpp"  // moco::step_times
// torch before doctest: c10's logging defines CHECK, doctest must define it last.
#include <doctest/doctest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "skyssl/core/log.hpp"  // format_duration
#include "skyssl/train/metrics.hpp"
#include "tests/support/test_paths.hpp"

using namespace skyssl;
using namespace skyssl::train;
namespace fs = std::filesystem;

namespace {

std::vector<nlohmann::json> lines(const fs::path& p) {
  std::ifstream in(p);
  std::vector<nlohmann::json> out;
  for (std::string l; std::getline(in, l);) out.push_back(nlohmann::json::parse(l));
  return out;
}

step_record sample() {
  step_record r;
  r.step = 120;
  r.epoch = 3;
  r.epoch_step = 19;
  r.steps_total = 2000;
  r.loss = 7.8125;
  r.acc1 = 0.03125;
  r.lr = 0.03;
  r.images_per_s = 412.31;
  r.step_s = 0.5;
  r.data_wait_s = 0.01;
  r.nonfinite_pixels = 17;
  r.elapsed_s = 60;
  r.eta_s = 252;
  r.phases[phase::query_forward] = 0.2;
  r.phases[phase::key_path] = 0.125;
  return r;
}

}  // namespace

TEST_CASE("metrics records: every key, events, appended across writers, rank 0 only") {
  auto dir = skyssl::test::tmp_dir("train_metrics");
  fs::remove(dir / "metrics.jsonl");
  {
    metrics_writer w(dir, true);
    w.write(sample());
    w.write_event("resume", R"({"step": 120, "world": 2})");
  }
  metrics_writer(dir, false).write(sample());  // not rank 0: writes nothing
  metrics_writer(dir, true).write_event("stop", R"({"step": 130})");
  const auto l = lines(dir / "metrics.jsonl");
  REQUIRE(l.size() == 3);
  const auto& r = l[0];
  CHECK(r.size() == 14);  // the keys below plus phases
  CHECK(r["step"] == 120);
  CHECK(r["epoch"] == 3);
  CHECK(r["epoch_step"] == 19);
  CHECK(r["steps_total"] == 2000);
  CHECK(r["loss"] == 7.8125);
  CHECK(r["acc1"] == 0.03125);
  CHECK(r["lr"] == 0.03);
  CHECK(r["images_per_s"] == 412.31);
  CHECK(r["step_s"] == 0.5);
  CHECK(r["data_wait_s"] == 0.01);
  CHECK(r["nonfinite_pixels"] == 17);
  CHECK(r["elapsed_s"] == 60);
  CHECK(r["eta_s"] == 252);
  // Every phase, by name, in seconds per step.
  REQUIRE(r["phases"].size() == static_cast<std::size_t>(phase_count));
  CHECK(r["phases"]["query_forward"] == 0.2);
  CHECK(r["phases"]["key_path"] == 0.125);
  CHECK(r["phases"]["backward"] == 0.0);
  CHECK(r["phases"]["augment"] == 0.0);
  CHECK(l[1]["event"] == "resume");
  CHECK(l[1]["world"] == 2);
  CHECK(l[2]["event"] == "stop");
}

TEST_CASE("summary record and phase breakdown") {
  auto dir = skyssl::test::tmp_dir("train_metrics_summary");
  fs::remove(dir / "metrics.jsonl");
  phase_times t;
  t[phase::query_forward] = 3.0;
  t[phase::backward] = 4.0;
  t[phase::key_path] = 2.0;
  t[phase::other] = 0.05;   // 0.5%: below 1%, left out of the breakdown
  t[phase::augment] = 5.0;  // pipeline thread: not a share of the step
  {
    moco::step_times st;
    st.grad_sync = 1.0;
    st.optimizer = 0.5;
    phase_times u;
    u.add(st);
    t += u;
  }
  CHECK(t[phase::grad_sync] == 1.0);
  CHECK(t.main_thread_sum() == doctest::Approx(10.5));
  CHECK(phase_breakdown(t, 10.0) ==
        "backward 40%, query_forward 30%, key_path 20%, grad_sync 10%, optimizer 5%");
  CHECK(std::string(phase_name(phase::read_wait)) == "read_wait");
  CHECK(std::string(phase_name(phase::augment)) == "augment");
  metrics_writer(dir, true).write_summary(4, 2.0, t);
  const auto l = lines(dir / "metrics.jsonl");
  REQUIRE(l.size() == 1);
  CHECK(l[0]["event"] == "summary");
  CHECK(l[0]["steps"] == 4);
  CHECK(l[0]["step_s"] == 0.5);
  CHECK(l[0]["phases"]["backward"] == 4.0);
}

TEST_CASE("progress line and durations") {
  CHECK(progress_line(sample()) ==
        "step 120/2000 epoch 3 loss 7.8125 acc1 0.031 lr 0.03 img/s 412.3 data-wait 2% ETA 4m12s");
  CHECK(format_duration(0) == "0s");
  CHECK(format_duration(59.4) == "59s");
  CHECK(format_duration(60) == "1m00s");
  CHECK(format_duration(3599) == "59m59s");
  CHECK(format_duration(3600) == "1h00m");
  CHECK(format_duration(90061) == "25h01m");
  CHECK(format_duration(-1) == "?");
  CHECK(format_duration(std::nan("")) == "?");
}
