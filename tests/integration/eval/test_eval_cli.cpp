// skyssl-eval on a run that skyssl-train wrote: eval.json has every task, encoder and metric
// in the documented shape, all encoders share the splits, the run is embedded once and the
// report is reproducible; bad inputs end with one clear message and a non-zero exit.
#include <doctest/doctest.h>
#include <hdf5.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

#include "tests/integration/eval/cli.hpp"

namespace fs = std::filesystem;
using skyssl::test::run;

namespace {

const fs::path& dir() {
  static const fs::path d = skyssl::test::tmp_dir("eval_cli");
  return d;
}

std::string eval_exe() { return skyssl::test::program("skyssl-eval"); }

nlohmann::json read_json(const fs::path& f) {
  std::ifstream in(f);
  return nlohmann::json::parse(in);
}

// v * n is an integer: v is a count out of n.
bool is_count_over(const nlohmann::json& v, int n) {
  const double c = v.get<double>() * n;
  return std::fabs(c - std::round(c)) < 1e-6;
}

}  // namespace

TEST_CASE("skyssl-eval: eval.json shape, shared splits, baselines, reproducible") {
  const auto r = skyssl::test::tiny_run(dir(), "run", 8);
  fs::remove(r / "embeddings.h5");
  const std::string cmd = eval_exe() + " --run-dir " + r.string() +
                          " --k 10 --label-counts 32,64 --retrieval-count 128 "
                          "--pixel-components 32 --set eval.supervised_epochs=1 "
                          "--set eval.supervised_min_steps=4 --set eval.supervised_batch=32";
  auto e = run(cmd);
  REQUIRE_MESSAGE(e.status == 0, e.output);
  CHECK(fs::exists(r / "embeddings.h5"));  // the run was embedded first
  CHECK(e.output.find("embedded 384 galaxies into") != std::string::npos);
  const auto j = read_json(r / "eval" / "eval.json");
  CHECK(j["meta"]["rows"] == 384);
  for (const char* enc : {"ssl", "random_init", "pixels"}) {
    CAPTURE(enc);
    const auto& m = j["morphology"][enc];
    const int n_test = m["n_test"];
    CHECK(m["n_train"].get<int>() + n_test == 384);
    CHECK(is_count_over(m["accuracy"], n_test));
    CHECK(is_count_over(m["knn_accuracy"], n_test));
    CHECK(m["precision"].size() == 2);
    REQUIRE(m["curve"].size() == 3);
    CHECK(m["curve"][0]["labels"] == 32);
    CHECK(m["curve"][2]["labels"] == m["n_train"]);
    const auto& z = j["photo_z"][enc];
    for (const char* k :
         {"sigma_mad", "bias", "outlier_frac_0.05", "outlier_frac_0.15", "head_sigma_mad",
          "head_bias", "head_outlier_frac_0.05", "head_outlier_frac_0.15"})
      CHECK_MESSAGE(z.contains(k), k);
    CHECK(z["sigma_mad"].get<double>() > 0.0);
    CHECK(is_count_over(z["outlier_frac_0.15"], z["n_test"]));
    const auto& s = j["self_retrieval"][enc];
    CHECK(s["count"] == 128);
    CHECK(s["chance"].get<double>() == doctest::Approx(1.0 / 128));
    CHECK(is_count_over(s["top1"], 128));
    // The split depends on the labels and the seed only, never on the encoder.
    CHECK(m["n_test"] == j["morphology"]["ssl"]["n_test"]);
  }
  CHECK(j["morphology"]["trivial"]["accuracy"].get<double>() >= 0.5);  // majority of 2 classes
  // The supervised baseline: the same ResNet trained on the labels, on the same test rows and
  // label counts (its steps: max(min_steps 4, 1 epoch of batches of 32)).
  {
    const auto& m = j["morphology"]["supervised"];
    CHECK(m["n_test"] == j["morphology"]["ssl"]["n_test"]);
    CHECK(m["n_train"] == j["morphology"]["ssl"]["n_train"]);
    CHECK(is_count_over(m["accuracy"], m["n_test"]));
    REQUIRE(m["curve"].size() == 3);
    CHECK(m["curve"][0]["labels"] == 32);
    CHECK(m["curve"][0]["steps"] == 4);
    CHECK(m["curve"][2]["steps"] == std::max(4, m["n_train"].get<int>() / 32));
    CHECK(m["epochs"] == 1);
    CHECK(!j["photo_z"].contains("supervised"));
  }
  // The trained weights were used: other embeddings than the random init's.
  CHECK(j["photo_z"]["ssl"] != j["photo_z"]["random_init"]);
  // The console table is the report's.
  char line[64];
  std::snprintf(line, sizeof line, "%.3f", j["morphology"]["ssl"]["accuracy"].get<double>());
  CHECK(e.output.find(line) != std::string::npos);
  // points.json carries the photo-z predictions and the PCA coordinates for the plots.
  const auto p = read_json(r / "eval" / "points.json");
  CHECK(p["photo_z"]["ssl"]["z_knn"].size() == p["photo_z"]["z_true"].size());
  CHECK(p["pca"]["pixels"]["x"].size() == 384);
  // Again: the embedding is reused (not redone) and the report is the same to the last digit.
  auto again = run(cmd);
  REQUIRE_MESSAGE(again.status == 0, again.output);
  CHECK(again.output.find("embedded 384 galaxies into") == std::string::npos);
  CHECK(read_json(r / "eval" / "eval.json") == j);
  // The same embedding given as a file, without the run (its config through --config, for
  // the crop and the seed of the splits): probes and pixels, no random init.
  auto file_only =
      run(eval_exe() + " --embeddings " + (r / "embeddings.h5").string() + " --config " +
          (r / "config.toml").string() + " --out-dir " + (dir() / "file_only").string() +
          " --k 10 --label-counts 32,64 --no-retrieval --pixel-components 32");
  REQUIRE_MESSAGE(file_only.status == 0, file_only.output);
  const auto f = read_json(dir() / "file_only" / "eval.json");
  CHECK(f["morphology"]["ssl"] == j["morphology"]["ssl"]);
  CHECK(!f["morphology"].contains("random_init"));
  CHECK(!f["morphology"].contains("supervised"));  // its shape comes from the run
  // --no-supervised turns it off.
  auto off = run(cmd + " --no-supervised --no-retrieval --no-random-init --out-dir " +
                 (dir() / "off").string());
  REQUIRE_MESSAGE(off.status == 0, off.output);
  CHECK(!read_json(dir() / "off" / "eval.json")["morphology"].contains("supervised"));
}

TEST_CASE("skyssl-eval: missing label field, one class only, another model's embeddings") {
  const auto r = skyssl::test::tiny_run(dir(), "run", 8);
  auto missing = run(eval_exe() + " --run-dir " + r.string() + " --class-field galaxy_zoo");
  CHECK(missing.status != 0);
  CHECK(missing.output.find("label field 'galaxy_zoo' is not in archive") != std::string::npos);
  CHECK(missing.output.find("--class-field") != std::string::npos);
  // A class field with one value only: a copy of the survey with an all-zero field.
  const auto copy = dir() / "survey_one_class.h5";
  fs::copy_file(dir() / "survey.h5", copy, fs::copy_options::overwrite_existing);
  {
    const hid_t f = H5Fopen(copy.string().c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    REQUIRE(f >= 0);
    const hsize_t n[1] = {384};
    const hid_t space = H5Screate_simple(1, n, nullptr);
    const hid_t d =
        H5Dcreate2(f, "all_zero", H5T_STD_I32LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    std::vector<int> zeros(384, 0);
    REQUIRE(H5Dwrite(d, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, zeros.data()) >= 0);
    H5Dclose(d);
    H5Sclose(space);
    H5Fclose(f);
  }
  auto one = run(eval_exe() + " --run-dir " + r.string() + " --set data.path=" + copy.string() +
                 " --class-field all_zero --out-dir " + (dir() / "one_class").string());
  CHECK(one.status != 0);
  CHECK(one.output.find("'all_zero'") != std::string::npos);
  CHECK(one.output.find("only class 0 in its 384 labelled rows") != std::string::npos);
  // Not a run at all.
  auto norun = run(eval_exe() + " --run-dir " + (dir() / "nope").string());
  CHECK(norun.status != 0);
  CHECK(norun.output.find("config.toml") != std::string::npos);
  // Embeddings of a width-4 model evaluated with a width-8 run.
  const auto other = skyssl::test::tiny_run(dir(), "run_w4", 4);
  auto emb = run(skyssl::test::program("skyssl-embed") + " --run-dir " + other.string());
  REQUIRE_MESSAGE(emb.status == 0, emb.output);
  auto wrong = run(eval_exe() + " --run-dir " + r.string() + " --embeddings " +
                   (other / "embeddings.h5").string());
  CHECK(wrong.status != 0);
  CHECK(wrong.output.find("was written by model 'resnet18 width=4") != std::string::npos);
  CHECK(wrong.output.find("skyssl-embed --run-dir") != std::string::npos);
}
