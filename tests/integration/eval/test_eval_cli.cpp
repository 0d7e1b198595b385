// skyssl-eval on a run that skyssl-train wrote: the report has the probes and baselines, and
// bad inputs end with one clear message and a non-zero exit.
#include <doctest/doctest.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/support/test_paths.hpp"

namespace fs = std::filesystem;

namespace {

struct result {
  int status;
  std::string output;
};

result run(const std::string& cmd) {
  result r{0, {}};
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  REQUIRE(p != nullptr);
  std::array<char, 4096> buf{};
  while (fgets(buf.data(), buf.size(), p)) r.output += buf.data();
  r.status = pclose(p);
  return r;
}

// One tiny survey and run shared by the cases.
fs::path trained_run() {
  static const fs::path dir = [] {
    const auto d = skyssl::test::tmp_dir("eval_cli");
    const auto survey = d / "survey.h5";
    auto s = run(std::string(SKYSSL_PREP_EXE) + " synth --out " + survey.string() +
                 " --count 384 --size 32 --seed 5");
    REQUIRE_MESSAGE(s.status == 0, s.output);
    auto t = run(std::string(SKYSSL_TRAIN_EXE) + " --preset example --run-dir " +
                 (d / "run").string() + " --set data.path=" + survey.string() +
                 " --set augment.input_size=32 --set augment.crop=24 --set augment.jitter_max=2" +
                 " --set model.width=8 --set moco.K=128 --set moco.bn_group=32" +
                 " --set train.global_batch=32 --set train.epochs=1 --set eval.enabled=false");
    REQUIRE_MESSAGE(t.status == 0, t.output);
    return d;
  }();
  return dir;
}

}  // namespace

TEST_CASE("skyssl-eval reports k-NN probes with baselines and neighbours") {
  const auto d = trained_run();
  auto e = run(std::string(SKYSSL_EVAL_EXE) + " --run-dir " + (d / "run").string() +
               " --k 10 --neighbours 0,5 --top 3");
  REQUIRE_MESSAGE(e.status == 0, e.output);
  CHECK(e.output.find("morphology k-NN accuracy") != std::string::npos);
  std::ifstream f(d / "run" / "knn_probe.json");
  const auto j = nlohmann::json::parse(f);
  CHECK(j["galaxies"] == 384);
  for (const char* which : {"trained", "random_init"}) {
    const auto& r = j[which];
    CHECK(r["n_reference"].get<int>() + r["n_test"].get<int>() == 384);
    const double acc = r["morphology_accuracy"];
    CHECK(acc >= 0.0);
    CHECK(acc <= 1.0);
    CHECK(r["photoz"]["sigma_mad"].get<double>() > 0.0);
  }
  // Any encoder that sees the image must beat guessing the majority class on this survey,
  // where morphology is visible by construction.
  CHECK(j["trained"]["morphology_accuracy"].get<double>() >
        j["trained"]["morphology_majority_baseline"].get<double>());
  // A galaxy is its own nearest neighbour.
  CHECK(j["neighbours"]["5"][0] == 5);
  CHECK(j["neighbours"]["0"].size() == 4);
}

TEST_CASE("skyssl-eval: missing run, mismatched weights, bad neighbour row") {
  const auto d = trained_run();
  auto missing = run(std::string(SKYSSL_EVAL_EXE) + " --run-dir " + (d / "nope").string());
  CHECK(missing.status != 0);
  CHECK(missing.output.find("config.toml") != std::string::npos);

  // A config whose model is wider than the saved weights.
  const auto bad = d / "bad_run";
  fs::create_directories(bad);
  fs::copy_file(d / "run" / "weights.pt", bad / "weights.pt", fs::copy_options::overwrite_existing);
  std::ifstream in(d / "run" / "config.toml");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto pos = text.find("width = 8");
  REQUIRE(pos != std::string::npos);
  text.replace(pos, 9, "width = 16");
  std::ofstream(bad / "config.toml") << text;
  auto mismatch = run(std::string(SKYSSL_EVAL_EXE) + " --run-dir " + bad.string());
  CHECK(mismatch.status != 0);
  CHECK(mismatch.output.find("does not match") != std::string::npos);

  auto row = run(std::string(SKYSSL_EVAL_EXE) + " --run-dir " + (d / "run").string() +
                 " --no-baseline --neighbours 100000");
  CHECK(row.status != 0);
  CHECK(row.output.find("galaxy 100000") != std::string::npos);
}
