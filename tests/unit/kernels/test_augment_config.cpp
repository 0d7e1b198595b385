#include <doctest/doctest.h>

#include <cstring>

#include "kernels/augment_config.hpp"
#include "skyssl/core/config.hpp"
#include "skyssl/core/error.hpp"

using namespace skyssl;
using skyssl::kernels::augment_config;

TEST_CASE("augment presets match the published DECaLS and SDSS settings") {
  const auto d = augment_config::decals();
  d.validate();
  CHECK(d.bands == 3);
  CHECK(std::string(d.band_names) == "grz");
  CHECK(d.input_size == 152);
  CHECK(d.crop_h == 96);
  CHECK(d.extinction[0] == doctest::Approx(3.214));
  CHECK(d.extinction[2] == doctest::Approx(1.211));
  CHECK(d.blur_sigma_max[1] == doctest::Approx(4.5));
  CHECK(d.noise_sigma_max[2] == doctest::Approx(0.061));
  CHECK(d.jitter_max == 7);
  CHECK((d.reddening && d.flips && d.rotation && d.scale && d.blur && d.jitter && d.noise &&
         d.stretch));
  CHECK(d.max_radius() == 17);  // ceil(3 * 5 * 1.1)

  const auto s = augment_config::sdss();
  s.validate();
  CHECK(s.bands == 5);
  CHECK(std::string(s.band_names) == "ugriz");
  CHECK(s.input_size == 107);
  CHECK(s.crop_w == 64);
  CHECK(s.extinction[0] == doctest::Approx(4.239));
  CHECK(s.extinction[4] == doctest::Approx(1.263));
  CHECK((s.reddening && s.flips && s.rotation && s.jitter && s.noise));
  CHECK((!s.scale && !s.blur && !s.stretch));
}

TEST_CASE("augment_config_from: preset, then per-key overrides") {
  auto c = config::from_string("[augment]\npreset = \"sdss\"\nnoise = false\n", "test");
  c.apply_override("augment.crop=48");
  c.apply_override("augment.extinction=[1,2,3,4,5]");
  c.apply_override("augment.angle_range=[90, 90]");
  c.apply_override("augment.noise_source=\"config\"");
  const auto a = kernels::augment_config_from(c, "augment");
  CHECK(a.bands == 5);
  CHECK(!a.noise);
  CHECK(a.crop_h == 48);
  CHECK(a.crop_w == 48);
  CHECK(a.extinction[3] == doctest::Approx(4));
  CHECK(a.angle_min == doctest::Approx(90));
  CHECK(a.noise_from == kernels::noise_source::config);
  CHECK(c.unread_keys().empty());
  const auto d = kernels::augment_config_from(config::from_string("", "empty"), "augment");
  CHECK(d.bands == 3);
  CHECK(d.crop_h == 96);
}

TEST_CASE("augment_config_from: clear errors") {
  auto bad = [](const std::string& text) {
    return kernels::augment_config_from(config::from_string(text, "test"), "augment");
  };
  CHECK_THROWS_WITH_AS(bad("[augment]\npreset = \"hsc\"\n"), doctest::Contains("augment.preset"),
                       config_error);
  CHECK_THROWS_WITH_AS(bad("[augment]\nextinction = [1, 2]\n"),
                       doctest::Contains("augment.extinction"), config_error);
  CHECK_THROWS_WITH_AS(bad("[augment]\nscale_range = [1.2, 0.9]\n"),
                       doctest::Contains("scale_range"), config_error);
  CHECK_THROWS_WITH_AS(bad("[augment]\nflip_p = 2.0\n"), doctest::Contains("flip_p"), config_error);
  CHECK_THROWS_WITH_AS(bad("[augment]\nblur_sigma_max = [50, 5, 5]\n"),
                       doctest::Contains("blur_sigma_max"), config_error);
  CHECK_THROWS_WITH_AS(bad("[augment]\nnoise_source = \"guess\"\n"),
                       doctest::Contains("noise_source"), config_error);
  CHECK_THROWS_WITH_AS(bad("[augment]\ninput_size = 50\n"), doctest::Contains("input_size"),
                       config_error);
}
