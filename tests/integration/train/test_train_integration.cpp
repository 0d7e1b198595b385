// skyssl-train end to end on a synthetic survey (skyssl-prep synth): the loss falls, the two
// views of a galaxy end up nearer than views of different galaxies, and 2 ranks compute the
// same steps as 1 rank with the same global batch.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "tests/support/test_paths.hpp"
#include "tests/support/run_command.hpp"

namespace fs = std::filesystem;
using skyssl::test::tmp_dir;

namespace {

int sh(const std::string& cmd) {
  MESSAGE(cmd);
  return skyssl::test::run_command(cmd).status;
}

std::vector<nlohmann::json> read_metrics(const fs::path& run) {
  std::ifstream in(run / "metrics.jsonl");
  std::vector<nlohmann::json> out;
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line);
    if (!j.contains("event")) out.push_back(j);
  }
  return out;
}

// SKYSSL_PREP_EXE in the environment overrides the built one (handy while developing).
std::string prep_exe() {
  const char* e = std::getenv("SKYSSL_PREP_EXE");
  return e ? e : skyssl::test::program("skyssl-prep");
}

const fs::path& survey() {
  static const fs::path p = [] {
    auto d = tmp_dir("train_integration");
    auto f = d / "survey.h5";
    fs::remove(f);
    REQUIRE(sh(fmt::format("{} synth --out {} --count 1024 --size 48 --seed 3 > {} 2>&1",
                           prep_exe(), f.string(), (d / "synth.log").string())) == 0);
    return f;
  }();
  return p;
}

std::string train_cmd(const fs::path& run, const std::string& extra) {
  return fmt::format(
      "{} --preset example --run-dir {} --set data.path='\"{}\"' --set augment.input_size=48 "
      "--set augment.crop=32 --set augment.jitter_max=3 --set model.width=16 {} > {} 2>&1",
      skyssl::test::program("skyssl-train"), run.string(), survey().string(), extra,
      (run.string() + ".log"));
}

}  // namespace

TEST_CASE("skyssl-train learns: loss falls, views of a galaxy retrieve each other") {
  auto run = tmp_dir("train_integration") / "learn";
  fs::remove_all(run);
  // 16 steps per epoch; K = 256 = 4 global batches, a quarter of the survey (a queue as long
  // as the survey would hold each galaxy's own older key as a negative).
  const int rc = sh(
      train_cmd(run,
                "--set train.epochs=14 --set train.global_batch=64 --set moco.K=256 "
                "--set moco.bn_group=32 --set train.log_every=4 --set train.threads=2 "
                "--set train.base_lr=0.24 --set train.warmup_epochs=1 --set train_eval.count=256"));
  if (rc != 0) {
    std::ifstream log(run.string() + ".log");
    MESSAGE(std::string(std::istreambuf_iterator<char>(log), {}));
  }
  REQUIRE(rc == 0);
  for (const char* f : {"config.toml", "metrics.jsonl", "weights.safetensors", "weights.pt",
                        "queue.pt", "eval.json", "embeddings.pt"})
    CHECK_MESSAGE(fs::exists(run / f), f);
  auto m = read_metrics(run);
  REQUIRE(m.size() >= 8);
  CHECK(m.back()["step"] == 14 * 16);
  // The loss first climbs from below log(1+K) (the queue starts as random unit vectors, far
  // from any key) to the plateau near log(1 + K) = 5.55 once the queue holds real keys, then
  // falls as the model learns. Check the plateau is reached and the end is clearly below it.
  double peak = 0;
  for (const auto& r : m) peak = std::max(peak, r["loss"].get<double>());
  const double last = m.back()["loss"];
  MESSAGE("loss peak " << peak << " -> last " << last);
  CHECK(peak > 0.85 * std::log(1.0 + 256));
  CHECK(last < peak - 0.75);
  std::ifstream e(run / "eval.json");
  auto ev = nlohmann::json::parse(e);
  const double top1 = ev["view_retrieval_top1"], chance = ev["chance"];
  MESSAGE("view retrieval top-1 " << top1 << " chance " << chance);
  CHECK(ev["count"] == 256);
  CHECK(top1 > 5 * chance);
  // The resolved config records the overrides and the defaults used.
  std::ifstream c(run / "config.toml");
  std::string cfg((std::istreambuf_iterator<char>(c)), {});
  CHECK(cfg.find("global_batch = 64") != std::string::npos);
}

TEST_CASE("1 rank and 2 ranks with the same global batch compute the same steps") {
  const std::string common =
      "--set train.max_steps=4 --set train.global_batch=32 --set moco.K=256 "
      "--set moco.bn_group=16 --set train.log_every=1 --set train_eval.enabled=false "
      "--set train.threads=1";
  auto r1 = tmp_dir("train_integration") / "np1";
  auto r2 = tmp_dir("train_integration") / "np2";
  fs::remove_all(r1);
  fs::remove_all(r2);
  REQUIRE(sh(train_cmd(r1, common)) == 0);
  // dist.check_every=1: the ranks' weights and queues are compared after every step.
  REQUIRE(sh(fmt::format("{} -n 2 --oversubscribe {}", skyssl::test::mpiexec(),
                         train_cmd(r2, common + " --set dist.check_every=1"))) == 0);
  auto m1 = read_metrics(r1), m2 = read_metrics(r2);
  REQUIRE(m1.size() == 4);
  REQUIRE(m2.size() == 4);
  for (std::size_t i = 0; i < 4; ++i) {
    const double a = m1[i]["loss"], b = m2[i]["loss"];
    MESSAGE("step " << i + 1 << ": 1 rank " << a << ", 2 ranks " << b);
    // Step 1 is the same math up to float summation order (same weights, BN groups, shuffle
    // permutation and queue): 1e-5. Later steps inherit that rounding through the weights.
    const double tol = i == 0 ? 1e-5 : 2e-3;
    CHECK(std::abs(a - b) < tol * std::abs(a));
  }
}

TEST_CASE("errors are one clear line naming the key, with a non-zero exit") {
  auto run = tmp_dir("train_integration") / "bad";
  fs::remove_all(run);
  CHECK(sh(train_cmd(run,
                     "--set train.global_batch=48 --set moco.bn_group=16 --set moco.K=1000")) != 0);
  std::ifstream log(run.string() + ".log");
  std::string text((std::istreambuf_iterator<char>(log)), {});
  CHECK(text.find("moco.K") != std::string::npos);
  auto run2 = tmp_dir("train_integration") / "typo";
  fs::remove_all(run2);
  CHECK(sh(train_cmd(run2, "--set train.epohcs=3")) != 0);
  std::ifstream log2(run2.string() + ".log");
  std::string text2((std::istreambuf_iterator<char>(log2)), {});
  CHECK(text2.find("train.epohcs") != std::string::npos);
}

TEST_CASE("train.device=cuda that cannot work stops every rank at start, naming the key") {
  // CPU-only LibTorch: "no CUDA"; a GPU machine: "cuda with the MPI backend at 2 ranks". Either
  // way both ranks exit non-zero before reading any data.
  auto run = tmp_dir("train_integration") / "cuda_refused";
  fs::remove_all(run);
  const int rc = sh(fmt::format("{} -n 2 --oversubscribe {}", skyssl::test::mpiexec(),
                                train_cmd(run, "--set train.device=cuda --set dist.backend=mpi")));
  CHECK(rc != 0);
  std::ifstream log(run.string() + ".log");
  std::string text((std::istreambuf_iterator<char>(log)), {});
  CHECK(text.find("train.device = 'cuda'") != std::string::npos);
  CHECK(text.find("Segmentation") == std::string::npos);
  CHECK_FALSE(fs::exists(run / "metrics.jsonl"));

  auto run2 = tmp_dir("train_integration") / "fp16_refused";
  fs::remove_all(run2);
  CHECK(sh(train_cmd(run2, "--set train.precision=fp16")) != 0);
  std::ifstream log2(run2.string() + ".log");
  std::string text2((std::istreambuf_iterator<char>(log2)), {});
  // LibTorch's CPU autocast has no fp16: refused on the CPU, naming the device key and a fix.
  CHECK(text2.find("train.precision = 'fp16' runs only with train.device = 'cuda'") !=
        std::string::npos);
  CHECK(text2.find("train.precision=bf16") != std::string::npos);
}

TEST_CASE("train.precision=bf16 trains on the CPU: finite losses near the fp32 run's") {
  auto fp32 = tmp_dir("train_integration") / "prec_fp32";
  auto bf16 = tmp_dir("train_integration") / "prec_bf16";
  const std::string common =
      "--set train.max_steps=4 --set train.log_every=1 --set train_eval.enabled=false";
  for (const auto& [run, extra] : {std::pair{fp32, std::string()},
                                   std::pair{bf16, std::string("--set train.precision=bf16")}}) {
    fs::remove_all(run);
    REQUIRE(sh(train_cmd(run, common + " " + extra)) == 0);
  }
  const auto a = read_metrics(fp32), b = read_metrics(bf16);
  REQUIRE(a.size() == 4);
  REQUIRE(b.size() == 4);
  bool differs = false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double la = a[i]["loss"].get<double>(), lb = b[i]["loss"].get<double>();
    CHECK(std::isfinite(lb));
    CHECK(std::abs(la - lb) < 0.05 * std::abs(la));  // bf16 keeps ~3 significant digits
    differs = differs || la != lb;
  }
  CHECK(differs);  // the encoders really ran in bf16
}
