// Survey synthesis: a pure function of (seed, id); labels and images that carry signal.
#include <doctest/doctest.h>

#include <cmath>
#include <numeric>

#include "skyssl/core/error.hpp"
#include "skyssl/data/synth.hpp"

using namespace skyssl::data;

TEST_CASE("synth: galaxies are pure functions of (seed, id)") {
  synth_options o;
  o.seed = 9;
  o.size = 48;
  std::vector<float> a(3 * 48 * 48), b(a.size()), s1, s2;
  for (std::int64_t id : {0, 1, 77, 12345}) {
    const auto ga = draw_galaxy(o, id), gb = draw_galaxy(o, id);
    render_galaxy(o, ga, a.data(), s1);
    render_galaxy(o, gb, b.data(), s2);
    CHECK(std::equal(a.begin(), a.end(), b.begin()));
    CHECK(ga.z_spec == gb.z_spec);
  }
  // The same id under another seed is another galaxy: the seed is not ignored.
  const auto g9 = draw_galaxy(o, 77);
  render_galaxy(o, g9, a.data(), s1);
  o.seed = 10;
  const auto g10 = draw_galaxy(o, 77);
  render_galaxy(o, g10, b.data(), s2);
  CHECK(!std::equal(a.begin(), a.end(), b.begin()));
  CHECK(g9.z_spec != g10.z_spec);
}

TEST_CASE("synth: labels and physics are sensible") {
  synth_options o;
  o.size = 64;
  int featured = 0, with_arms = 0, with_clumps = 0;
  double z_lo = 1, z_hi = 0;
  const int n = 400;
  double red_smooth = 0, red_featured = 0;
  for (int id = 0; id < n; ++id) {
    const auto g = draw_galaxy(o, id);
    featured += g.morphology;
    with_arms += g.arms > 0;
    with_clumps += g.clumps > 0;
    CHECK((g.arms == 0 || g.morphology == 1));
    z_lo = std::min(z_lo, static_cast<double>(g.z_spec));
    z_hi = std::max(z_hi, static_cast<double>(g.z_spec));
    REQUIRE(g.psf_fwhm.size() == 3);
    CHECK(g.psf_fwhm[0] > 0.8f);
    CHECK(g.psf_fwhm[0] < 2.5f);
    CHECK(g.ebv >= 0.0f);
    // g - z colour (magnitudes): smooth galaxies are redder.
    const double gz = -2.5 * std::log10(g.flux[0] / g.flux[2]);
    (g.morphology ? red_featured : red_smooth) += gz;
  }
  CHECK(featured > n / 3);
  CHECK(featured < 2 * n / 3);
  CHECK(with_arms > 0);
  CHECK(with_clumps > 0);
  CHECK(z_lo < 0.05);
  CHECK(z_hi > 0.25);
  CHECK(red_smooth / (n - featured) > red_featured / featured + 0.3);
  // The image's flux (before noise) matches the catalogue flux within the stamp losses.
  const auto g = draw_galaxy(o, 3);
  std::vector<float> img(3 * 64 * 64), scratch;
  render_galaxy(o, g, img.data(), scratch);
  const double sum_r = std::accumulate(img.begin() + 64 * 64, img.begin() + 2 * 64 * 64, 0.0);
  CHECK(sum_r == doctest::Approx(g.flux[1]).epsilon(0.25));
  CHECK_THROWS_AS(skyssl::data::extinction_coefficient("q"), skyssl::data_error);
  CHECK(skyssl::data::extinction_coefficient("g") == doctest::Approx(3.214));
}
