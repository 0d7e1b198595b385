// The layering every app uses (apps/train/main.cpp resolve_config): a preset (from_string),
// then the --config file merged over it (merge_over(from_file)), then --set overrides
// (apply_override), later layers winning key by key; and what happens to keys nobody reads.
#include <doctest/doctest.h>

#include <fstream>

#include "skyssl/core/config.hpp"
#include "skyssl/core/error.hpp"
#include "tests/support/test_paths.hpp"

using skyssl::config;

namespace {

const char* preset = R"([train]
lr = 0.1
epochs = 10
[model]
arch = "resnet18"
width = 64
[augment]
ebv_range = [0.0, 1.0]
)";

const char* file_text = R"([train]
lr = 0.2
[model]
width = 16
[augment]
ebv_range = [0.0, 0.5]
)";

std::filesystem::path write(const std::string& name, const std::string& text) {
  const auto p = skyssl::test::tmp_dir("config_layering") / name;
  std::ofstream(p) << text;
  return p;
}

config resolve(const std::vector<std::string>& overrides) {
  config cfg = config::from_string(preset, "preset");
  cfg.merge_over(config::from_file(write("run.toml", file_text)));
  for (const auto& o : overrides) cfg.apply_override(o);
  return cfg;
}

}  // namespace

TEST_CASE("config layers: preset < file < overrides, key by key") {
  const config base = resolve({});
  CHECK(base.get_double("train.lr", 0) == 0.2);  // the file beats the preset
  CHECK(base.get_int("train.epochs", 0) == 10);  // the preset's other keys survive
  CHECK(base.get_string("model.arch", "") == "resnet18");
  CHECK(base.get_int("model.width", 0) == 16);
  const config cfg = resolve({"train.lr=0.3", "model.arch=resnet50", "train.seed=9"});
  CHECK(cfg.get_double("train.lr", 0) == 0.3);            // an override beats the file
  CHECK(cfg.get_string("model.arch", "") == "resnet50");  // a bare word is a string
  CHECK(cfg.get_int("train.seed", 0) == 9);               // and may add a key
  CHECK(cfg.get_int("model.width", 0) == 16);
  // The resolved document (what apps write next to their outputs) reads back as the same.
  const auto toml = cfg.to_toml();
  INFO(toml);
  const config back = config::from_string(toml, "resolved");
  CHECK(back.get_double("train.lr", 0) == 0.3);
  CHECK(back.get_int("train.epochs", 0) == 10);
  CHECK(back.get_string("model.arch", "") == "resnet50");
  CHECK(back.get_int("model.width", 0) == 16);
}

TEST_CASE("config layers: a list-valued key is replaced whole, never merged element-wise") {
  CHECK(resolve({}).get_doubles("augment.ebv_range", {}) == std::vector<double>{0.0, 0.5});
  const config cfg = resolve({"augment.ebv_range=[0.0, 0.1, 0.2]"});
  CHECK(cfg.get_doubles("augment.ebv_range", {}) == std::vector<double>{0.0, 0.1, 0.2});
  // A string list through an override, and a list where a list of numbers is expected.
  config c = resolve({"data.fields=[\"ra\", \"dec\"]"});
  CHECK(c.get_strings("data.fields", {}) == std::vector<std::string>{"ra", "dec"});
  CHECK_THROWS_WITH_AS(c.get_doubles("data.fields", {}),
                       doctest::Contains("'data.fields' must be an array of numbers"),
                       skyssl::config_error);
}

TEST_CASE("config layers: keys nobody read are listed and rejected by name") {
  config cfg = resolve({"train.lrr=0.5"});  // a typo on the command line
  (void)cfg.get_double("train.lr", 0);
  (void)cfg.get_int("train.epochs", 0);
  (void)cfg.get_string("model.arch", "");
  (void)cfg.get_int("model.width", 0);
  (void)cfg.get_doubles("augment.ebv_range", {});
  CHECK(cfg.unread_keys() == std::vector<std::string>{"train.lrr"});
  CHECK_THROWS_WITH_AS(cfg.reject_unread(), doctest::Contains("train.lrr"), skyssl::config_error);
  // Restricted to other sections, the typo is someone else's business.
  CHECK_NOTHROW(cfg.reject_unread({"model", "augment"}));
  (void)cfg.get_double("train.lrr", 0);
  CHECK(cfg.unread_keys().empty());
  CHECK_NOTHROW(cfg.reject_unread());
}

TEST_CASE("config file errors: a syntax error gives file, line and column") {
  // Line 3, column 10 is the second '=' (1-based, as editors count).
  const auto bad = write("bad.toml", "[train]\nlr = 0.1\nepochs = = 3\n");
  CHECK_THROWS_WITH_AS(config::from_file(bad), doctest::Contains("line 3, column 10"),
                       skyssl::config_error);
  CHECK_THROWS_WITH_AS(config::from_file(bad), doctest::Contains(bad.string().c_str()),
                       skyssl::config_error);
  CHECK_THROWS_WITH_AS(config::from_file(bad.string() + ".missing"),
                       doctest::Contains("does not exist"), skyssl::config_error);
}

TEST_CASE("config file errors: a wrong type names the key, what it must be and what it is") {
  const auto f = write("types.toml", "[train]\nepochs = \"ten\"\nlr = true\n");
  const config cfg = config::from_file(f);
  CHECK_THROWS_WITH_AS(cfg.get_int("train.epochs", 1),
                       doctest::Contains("'train.epochs' must be an integer but is string"),
                       skyssl::config_error);
  CHECK_THROWS_WITH_AS(cfg.get_double("train.lr", 1),
                       doctest::Contains("'train.lr' must be a number but is boolean"),
                       skyssl::config_error);
  CHECK_THROWS_WITH_AS(cfg.get_int("train.epochs", 1), doctest::Contains(f.string().c_str()),
                       skyssl::config_error);
  // An override keeps TOML's types: 3.5 is a float, not an integer.
  config o = cfg;
  o.apply_override("train.epochs=3.5");
  CHECK_THROWS_WITH_AS(o.get_int("train.epochs", 1),
                       doctest::Contains("'train.epochs' must be an integer but is float"),
                       skyssl::config_error);
}
