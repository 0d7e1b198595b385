// The sky index finds the row a brute-force scan of every row's separation finds (the
// published app's method), at any position: near the poles, across RA 0/360, on duplicates.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "skyssl/serve/sky_index.hpp"

using skyssl::serve::separation_arcsec;
using skyssl::serve::sky_index;

namespace {

constexpr double pi = 3.14159265358979323846;

// Haversine: an independent formula for the reference.
double haversine_arcsec(double ra1, double dec1, double ra2, double dec2) {
  const double r = pi / 180;
  const double s = std::sin((dec2 - dec1) * r / 2), t = std::sin((ra2 - ra1) * r / 2);
  const double h = s * s + std::cos(dec1 * r) * std::cos(dec2 * r) * t * t;
  return 2 * std::asin(std::min(1.0, std::sqrt(h))) / r * 3600;
}

std::int64_t brute_nearest(const std::vector<double>& ra, const std::vector<double>& dec,
                           double qra, double qdec) {
  std::int64_t best = -1;
  double best_sep = 1e300;
  for (std::size_t i = 0; i < ra.size(); ++i) {
    if (!std::isfinite(ra[i])) continue;
    const double s = haversine_arcsec(qra, qdec, ra[i], dec[i]);
    if (s < best_sep) {
      best_sep = s;
      best = static_cast<std::int64_t>(i);
    }
  }
  return best;
}

}  // namespace

TEST_CASE("separation_arcsec: known separations") {
  CHECK(separation_arcsec(0, 0, 0, 1) == doctest::Approx(3600).epsilon(1e-12));
  CHECK(separation_arcsec(0, 0, 180, 0) == doctest::Approx(648000).epsilon(1e-12));
  CHECK(separation_arcsec(359.5, 0, 0.5, 0) == doctest::Approx(3600).epsilon(1e-9));
  CHECK(separation_arcsec(10, 90, 250, 90) == doctest::Approx(0).epsilon(1e-6));
  CHECK(separation_arcsec(10, 20, 10, 20) == 0);
  // One arcsec apart: no loss of precision at small separations.
  CHECK(separation_arcsec(150, 2, 150, 2 + 1.0 / 3600) == doctest::Approx(1).epsilon(1e-9));
}

TEST_CASE("sky_index: the nearest row as brute force finds it") {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> u(0, 1);
  const std::int64_t n = 20000;
  std::vector<double> ra(n), dec(n);
  for (std::int64_t i = 0; i < n; ++i) {
    ra[i] = 360 * u(rng);
    dec[i] = std::asin(2 * u(rng) - 1) * 180 / pi;  // uniform on the sphere
  }
  // A dense clump (a survey's small field), a duplicate position, rows at the poles and on
  // both sides of RA 0, and a row without a position.
  for (int i = 0; i < 2000; ++i) {
    ra[i] = 150 + 0.01 * u(rng);
    dec[i] = 2 + 0.01 * u(rng);
  }
  ra[2001] = ra[2000];
  dec[2001] = dec[2000];
  ra[2002] = 12, dec[2002] = 89.9999;
  ra[2003] = 0.00001, dec[2003] = -30;
  ra[2004] = 359.99999, dec[2004] = -30.00001;
  ra[2005] = std::nan("");
  const sky_index index(ra.data(), dec.data(), n);
  CHECK(index.size() == n - 1);

  std::vector<std::pair<double, double>> queries = {
      {ra[2000], dec[2000]}, {200, 89.99999}, {359.999999, -30}, {0, -30.00002},
      {150.005, 2.005},      {0, 90},         {0, -90}};
  for (int i = 0; i < 500; ++i)
    queries.push_back({360 * u(rng), std::asin(2 * u(rng) - 1) * 180 / pi});
  for (int i = 0; i < 500; ++i) queries.push_back({150 + 0.012 * u(rng), 2 + 0.012 * u(rng)});
  for (const auto& [qra, qdec] : queries) {
    INFO("ra " << qra << " dec " << qdec);
    const auto hit = index.nearest(qra, qdec);
    const auto want = brute_nearest(ra, dec, qra, qdec);
    CHECK(hit.row == want);
    CHECK(hit.separation_arcsec ==
          doctest::Approx(haversine_arcsec(qra, qdec, ra[want], dec[want])).epsilon(1e-9));
  }
  // Of two rows at the same position, the lower.
  CHECK(index.nearest(ra[2000], dec[2000]).row == 2000);
  CHECK(index.nearest(ra[2000], dec[2000]).separation_arcsec == doctest::Approx(0));
}

TEST_CASE("sky_index: empty and tiny tables") {
  const double ra[] = {10.0}, dec[] = {-5.0};
  CHECK(sky_index(ra, dec, 0).nearest(1, 1).row == -1);
  const auto hit = sky_index(ra, dec, 1).nearest(10, -4);
  CHECK(hit.row == 0);
  CHECK(hit.separation_arcsec == doctest::Approx(3600));
}
