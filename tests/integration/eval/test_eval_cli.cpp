// skyssl-eval on a run that skyssl-train wrote: the report has the probes and baselines, and
// bad inputs end with one clear message and a non-zero exit.
#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

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

nlohmann::json read_report(const fs::path& d) {
  std::ifstream f(d / "run" / "knn_probe.json");
  return nlohmann::json::parse(f);
}

// v * n is an integer: v is a count out of n.
bool is_count_over(const nlohmann::json& v, int n) {
  const double c = v.get<double>() * n;
  return std::fabs(c - std::round(c)) < 1e-6;
}

std::string accuracy_line(double acc) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "morphology k-NN accuracy %.3f", acc);
  return buf;
}

// The scores of the line "neighbours of Q (m=..): id(score, m=..) id(score, m=..) ...".
std::vector<double> neighbour_scores(const std::string& out, int q) {
  const std::string mark = "neighbours of " + std::to_string(q) + " ";
  const auto at = out.find(mark);
  std::vector<double> s;
  if (at == std::string::npos) return s;
  const auto colon = out.find(':', at);
  const auto line = out.substr(colon, out.find('\n', colon) - colon);
  for (auto p = line.find('('); p != std::string::npos; p = line.find('(', p + 1))
    s.push_back(std::stod(line.substr(p + 1)));
  return s;
}

}  // namespace

TEST_CASE("skyssl-eval reports k-NN probes with baselines and neighbours") {
  const auto d = trained_run();
  const std::string cmd = std::string(SKYSSL_EVAL_EXE) + " --run-dir " + (d / "run").string() +
                          " --k 10 --neighbours 0,5 --top 3";
  auto e = run(cmd);
  REQUIRE_MESSAGE(e.status == 0, e.output);
  const auto j = read_report(d);
  CHECK(j["galaxies"] == 384);
  const auto& trained = j["trained"];
  const auto& random = j["random_init"];
  for (const auto* r : {&trained, &random}) {
    const int n_test = (*r)["n_test"];
    CHECK((*r)["n_reference"].get<int>() + n_test == 384);
    // Accuracies are counts over the test set: a wrong denominator shows.
    CHECK(is_count_over((*r)["morphology_accuracy"], n_test));
    CHECK(is_count_over((*r)["morphology_majority_baseline"], n_test));
    CHECK((*r)["morphology_majority_baseline"].get<double>() >= 0.5);  // two classes
    CHECK((*r)["photoz"]["sigma_mad"].get<double>() > 0.0);
  }
  // The split and the baselines depend on the labels and the seed only, never on the encoder.
  CHECK(trained["n_test"] == random["n_test"]);
  CHECK(trained["morphology_majority_baseline"] == random["morphology_majority_baseline"]);
  CHECK(trained["photoz_median_baseline"] == random["photoz_median_baseline"]);
  // The trained weights were loaded: the probe sees other embeddings than the random init's.
  CHECK(trained["photoz"] != random["photoz"]);
  // The printed summary is the report's.
  CHECK(e.output.find(accuracy_line(trained["morphology_accuracy"])) != std::string::npos);
  // A galaxy is its own nearest neighbour, with cosine 1, and scores never increase.
  CHECK(j["neighbours"]["5"][0] == 5);
  CHECK(j["neighbours"]["0"].size() == 4);
  const auto scores = neighbour_scores(e.output, 5);
  REQUIRE(scores.size() == 4);
  CHECK(scores[0] == doctest::Approx(1.0).epsilon(1e-3));
  for (std::size_t i = 1; i < scores.size(); ++i) CHECK(scores[i] <= scores[i - 1]);
  // The same run evaluated again gives the same report, to the last digit.
  auto again = run(cmd);
  REQUIRE_MESSAGE(again.status == 0, again.output);
  CHECK(read_report(d) == j);
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
