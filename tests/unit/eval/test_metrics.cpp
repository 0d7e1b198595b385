#include <doctest/doctest.h>

#include "skyssl/core/error.hpp"
#include "skyssl/eval/photoz_metrics.hpp"

using namespace skyssl::eval;

TEST_CASE("photo-z metrics by hand") {
  // z_true = 0 so dz = z_pred: {-0.02, 0, 0.01, 0.1, 0.2}
  auto m = compute_photoz_metrics({-0.02, 0.0, 0.01, 0.1, 0.2}, {0, 0, 0, 0, 0});
  CHECK(m.count == 5);
  CHECK(m.bias == doctest::Approx(0.058));
  // median = 0.01; |dz - med| = {0.03, 0.01, 0, 0.09, 0.19}; median 0.03
  CHECK(m.sigma_mad == doctest::Approx(1.4826 * 0.03));
  CHECK(m.outliers_005 == doctest::Approx(0.4));
  CHECK(m.outliers_015 == doctest::Approx(0.2));
  // (1+z) scaling
  auto s = compute_photoz_metrics({0.22}, {0.1});
  CHECK(s.bias == doctest::Approx(0.12 / 1.1));
  CHECK_THROWS_AS(compute_photoz_metrics({0.1}, {}), skyssl::data_error);
}

TEST_CASE("accuracy") {
  CHECK(accuracy({1, 0, 1, 1}, {1, 1, 1, 0}) == doctest::Approx(0.5));
  CHECK_THROWS_AS(accuracy({1}, {1, 0}), skyssl::data_error);
}
