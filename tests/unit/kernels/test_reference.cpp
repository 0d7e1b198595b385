// Properties of the parameter draw and the plain reference (no torch, no Kokkos).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "kernels/reference.hpp"
#include "kernels/sample_params.hpp"

using namespace skyssl;
using namespace skyssl::kernels;

TEST_CASE("sincos_deg is exact at multiples of 90 degrees") {
  float s, c;
  sincos_deg(90.0f, s, c);
  CHECK(s == 1.0f);
  CHECK(c == 0.0f);
  sincos_deg(180.0f, s, c);
  CHECK(s == 0.0f);
  CHECK(c == -1.0f);
  sincos_deg(270.0f, s, c);
  CHECK(s == -1.0f);
  sincos_deg(30.0f, s, c);
  CHECK(s == doctest::Approx(0.5));
  sincos_deg(200.0f, s, c);
  CHECK(s == doctest::Approx(std::sin(200.0 * M_PI / 180)).epsilon(1e-6));
  CHECK(c == doctest::Approx(std::cos(200.0 * M_PI / 180)).epsilon(1e-6));
}

TEST_CASE("the inline log, sincos and Box-Muller of the kernels agree with libm") {
  double worst_log = 0, worst_sc = 0, worst_normal = 0;
  for (std::uint32_t i = 0; i < (1u << 16); ++i) {
    const std::uint32_t w = i * 65537u + 12345u;  // spread over the whole 32-bit range
    const float u = static_cast<float>(w >> 8) * 5.9604645e-8f;
    float s, c;
    kernels::detail::sincos_turns(u, s, c);
    const double t = 6.283185307179586 * u;
    worst_sc = std::max({worst_sc, std::fabs(s - std::sin(t)), std::fabs(c - std::cos(t))});
    const float x = 1.0f - u;  // (0, 1]
    worst_log = std::max(worst_log, std::fabs(kernels::detail::log_pos(x) - std::log(double(x))) /
                                        std::max(1.0, std::fabs(std::log(double(x)))));
    float n0, n1, r0, r1;
    kernels::detail::normal_pair(w, ~w, n0, n1);
    skyssl::rng::to_normal2(w, ~w, r0, r1);  // the libm version
    worst_normal = std::max({worst_normal, double(std::fabs(n0 - r0)), double(std::fabs(n1 - r1))});
  }
  CHECK(worst_sc < 1e-6);
  CHECK(worst_log < 1e-6);
  CHECK(worst_normal < 1e-5);  // |n| <= 5.8: a few ulp of r and of the angle
}

TEST_CASE("drawn parameters stay in their configured ranges") {
  const auto cfg = augment_config::decals();
  const float psf[3] = {1.2f, NAN, 1.0f};
  const float own[3] = {0.002f, 0.003f, 0.01f};
  int flips = 0;
  for (std::uint64_t id = 0; id < 400; ++id) {
    const auto p =
        draw_sample_params(cfg, 152, 152, 7, 1, id, static_cast<int>(id % 2), 0.05f, psf, 1, own);
    CHECK(std::abs(p.jy) <= 7);
    CHECK(std::abs(p.jx) <= 7);
    CHECK(p.scale >= 0.9f);
    CHECK(p.scale <= 1.1f);
    flips += p.m00 * p.m11 - p.m01 * p.m10 < 0;  // exactly one flip: determinant < 0
    for (int b = 0; b < 3; ++b) {
      CHECK(p.gain[b] > 0.0f);
      CHECK(p.gain[b] <= std::pow(10.0f, 0.4f * cfg.extinction[b] * 0.05f) * 1.0001f);
      CHECK(p.radius[b] <= cfg.max_radius());
      CHECK(p.blur_sigma[b] <= cfg.blur_sigma_max[b] * 1.1f + 1e-5f);
      CHECK(p.noise_sigma[b] <= cfg.noise_sigma_max[b]);
    }
  }
  CHECK(flips > 140);  // P(exactly one flip) = 0.5
  CHECK(flips < 260);
}

TEST_CASE("reference: gaussian taps are normalised and centre crop is the identity map") {
  for (double s : {0.7, 2.0, 5.5}) {
    const auto k = reference::gaussian_taps(s, static_cast<int>(std::ceil(3 * s)));
    CHECK(std::accumulate(k.begin(), k.end(), 0.0) == doctest::Approx(1.0).epsilon(1e-12));
  }
  reference::image in(2, 20, 20);
  for (std::size_t i = 0; i < in.px.size(); ++i) in.px[i] = static_cast<float>(i % 17) * 0.25f;
  sample_params p;
  p.cy = p.cx = 4 + 5.5f;  // offset 4, crop 12
  const auto g = reference::geometry(in, p, 12, 12, 0);
  const auto c = reference::center_crop(in, 12, 12);
  CHECK(g.px == c.px);
}
