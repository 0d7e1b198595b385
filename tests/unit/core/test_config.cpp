#include <doctest/doctest.h>

#include "skyssl/core/config.hpp"
#include "skyssl/core/error.hpp"

using skyssl::config;

TEST_CASE("config: typed getters, fallbacks and overrides") {
  auto c = config::from_string("[train]\nlr = 0.5\nepochs = 3\nname = \"x\"\n", "test");
  CHECK(c.get_double("train.lr", 0.0) == 0.5);
  CHECK(c.get_double("train.epochs", 0.0) == 3.0);  // integers read as numbers
  CHECK(c.get_int("train.epochs", 0) == 3);
  CHECK(c.get_int("train.batch", 64) == 64);  // fallback recorded
  CHECK(c.to_toml().find("batch = 64") != std::string::npos);
  c.apply_override("train.lr=0.25");
  c.apply_override("model.arch=resnet18");  // bare string, new section
  c.apply_override("aug.sigma=[1, 2.5]");
  CHECK(c.get_double("train.lr", 0.0) == 0.25);
  CHECK(c.get_string("model.arch", "") == "resnet18");
  CHECK(c.get_doubles("aug.sigma", {}) == std::vector<double>{1.0, 2.5});
}

TEST_CASE("config: errors name the key") {
  auto c = config::from_string("[train]\nlr = \"fast\"\ntypo = 1\n", "test.toml");
  CHECK_THROWS_WITH_AS(c.get_double("train.lr", 0.1), doctest::Contains("train.lr"),
                       skyssl::config_error);
  CHECK_THROWS_WITH_AS(c.reject_unread({"train"}), doctest::Contains("train.typo"),
                       skyssl::config_error);
  CHECK_THROWS_AS(c.apply_override("novalue"), skyssl::config_error);
  CHECK_THROWS_AS(config::from_string("[x\n", "bad.toml"), skyssl::config_error);
  CHECK_THROWS_WITH_AS(skyssl::check_positive("moco.K", -1), doctest::Contains("moco.K"),
                       skyssl::config_error);
}
