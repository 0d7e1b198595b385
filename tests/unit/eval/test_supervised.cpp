// The supervised baseline: on a toy archive whose two classes are compact and extended blobs
// (separable by eye, whatever the flips and turns), a ResNet trained from scratch on the
// labels beats chance clearly, the same seed gives the same report to the last digit, and its
// config keys are checked by name.
#include "tests/support/torch_doctest.hpp"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <numeric>

#include "skyssl/core/config.hpp"
#include "skyssl/core/error.hpp"
#include "skyssl/core/philox.hpp"
#include "skyssl/data/archive.hpp"
#include "skyssl/data/writer.hpp"
#include "skyssl/eval/supervised_baseline.hpp"
#include "tests/support/test_paths.hpp"

namespace fs = std::filesystem;
using namespace skyssl;
using namespace skyssl::eval;

namespace {

constexpr std::int64_t survey_rows = 192;
constexpr int side = 16;

// Class r % 2: 0 = compact blob (sigma 1.2 px), 1 = extended (sigma 3.5 px); amplitude in
// [0.5, 1.5), centre offset up to 1.5 px, Gaussian noise 0.05.
std::string toy_archive(const fs::path& dir) {
  const auto path = (dir / "toy.h5").string();
  data::writer_options w;
  w.path = path;
  w.count = survey_rows;
  w.channels = 1;
  w.height = w.width = side;
  w.bands = {"r"};
  w.pixel_scale = 0.262;
  w.survey = "synthetic";
  w.fields = {{"morphology", data::field_type::i32}};
  data::archive_writer out(w);
  std::vector<float> px(survey_rows * side * side);
  std::vector<std::int32_t> m(survey_rows);
  for (std::int64_t r = 0; r < survey_rows; ++r) {
    m[r] = static_cast<std::int32_t>(r % 2);
    const auto u = rng::draw({11, 0, static_cast<std::uint64_t>(r), 0, rng::user}, 0);
    const float amp = 0.5f + rng::to_unit_float(u.v[0]);
    const float cx = 7.5f + 3.0f * (rng::to_unit_float(u.v[1]) - 0.5f);
    const float cy = 7.5f + 3.0f * (rng::to_unit_float(u.v[2]) - 0.5f);
    const float s = m[r] == 0 ? 1.2f : 3.5f;
    for (int y = 0; y < side; ++y)
      for (int x = 0; x < side; ++x) {
        const int i = y * side + x;
        const auto nz = rng::draw({11, 1, static_cast<std::uint64_t>(r), 0, rng::user},
                                  static_cast<std::uint32_t>(i));
        float n0 = 0, n1 = 0;
        rng::to_normal2(nz.v[0], nz.v[1], n0, n1);
        const float d2 = (x - cx) * (x - cx) + (y - cy) * (y - cy);
        px[r * side * side + i] = amp * std::exp(-0.5f * d2 / (s * s)) + 0.05f * n0;
      }
  }
  out.write_images(0, survey_rows, px.data());
  out.write_field("morphology", 0, survey_rows, m.data());
  out.close();
  return path;
}

kernels::augment_config crop12() {
  kernels::augment_config c;
  c.bands = 1;
  std::strcpy(c.band_names, "r");
  c.input_size = side;
  c.crop_h = c.crop_w = 12;
  c.stretch = false;
  return c;
}

}  // namespace

TEST_CASE("supervised baseline: beats chance on a separable toy archive, deterministic") {
  const auto dir = test::tmp_dir("supervised");
  data::archive_options ao;
  ao.paths = {toy_archive(dir)};
  const data::archive archive(ao);
  task_labels labels;
  labels.class_field = "morphology";
  labels.n_classes = 2;
  for (std::int64_t r = 0; r < survey_rows; ++r) {
    labels.classes.push_back(static_cast<int>(r % 2));
    labels.class_rows.push_back(r);
  }
  split_options so;
  so.seed = 3;
  so.test_fraction = 0.5;
  const auto sp = make_split(labels.class_rows, so);
  model::resnet_options shape;
  shape.width = 4;
  shape.in_channels = 1;
  shape.head_dim = 8;  // the run's projection head: dropped by the baseline
  supervised_options o;
  o.epochs = 8;
  o.min_steps = 24;
  o.batch = 16;
  o.lr = 0.05;
  // 96 labels: 6 batches an epoch, 8 epochs = 48 steps; 16 labels: 8 epochs = 8 < 24 steps.
  CHECK(supervised_steps(o, 96) == 48);
  CHECK(supervised_steps(o, 16) == 24);
  const auto j = supervised_morphology(archive, crop12(), shape, labels, sp, {16}, o, 5, 64);
  REQUIRE(j.contains("accuracy"));
  const double acc = j["accuracy"].get<double>();
  MESSAGE("supervised toy accuracy " << acc);
  CHECK(acc >= 0.85);  // chance is 0.5
  CHECK(j["n_train"] == 96);
  CHECK(j["n_test"] == 96);
  // Accuracy is a count over the 96 test rows.
  CHECK(std::fabs(acc * 96 - std::round(acc * 96)) < 1e-9);
  REQUIRE(j["curve"].size() == 2);
  CHECK(j["curve"][0]["labels"] == 16);
  CHECK(j["curve"][0]["steps"] == 24);
  CHECK(j["curve"][1]["labels"] == 96);
  CHECK(j["curve"][1]["steps"] == 48);
  CHECK(j["curve"][1]["accuracy"] == j["accuracy"]);
  CHECK(j["precision"].size() == 2);
  CHECK(j["recall"].size() == 2);
  // Same seed, same everything.
  CHECK(supervised_morphology(archive, crop12(), shape, labels, sp, {16}, o, 5, 64) == j);
}

TEST_CASE("supervised baseline: config keys, off switch, bad values named") {
  auto cfg = config::from_string("[eval]\nsupervised_epochs = 3\nsupervised_lr = 0.2\n", "t");
  const auto o = supervised_options_from(cfg, "eval");
  CHECK(o.epochs == 3);
  CHECK(o.lr == doctest::Approx(0.2));
  CHECK(o.enabled());
  CHECK(o.batch == supervised_options{}.batch);
  CHECK_FALSE(
      supervised_options_from(config::from_string("[eval]\nsupervised_epochs = 0\n", "t"), "eval")
          .enabled());
  CHECK_THROWS_WITH_AS(
      supervised_options_from(config::from_string("[eval]\nsupervised_batch = 1\n", "t"), "eval"),
      doctest::Contains("eval.supervised_batch"), config_error);
  CHECK_THROWS_WITH_AS(
      supervised_options_from(config::from_string("[eval]\nsupervised_epochs = -1\n", "t"), "eval"),
      doctest::Contains("eval.supervised_epochs"), config_error);
}
