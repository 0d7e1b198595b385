#include <doctest/doctest.h>

#include <algorithm>
#include <set>

#include "skyssl/core/error.hpp"
#include "skyssl/data/epoch_plan.hpp"

using skyssl::data::epoch_plan;

TEST_CASE("epoch_plan: a permutation of [0, n) for many sizes") {
  for (std::int64_t n : {1, 2, 3, 7, 64, 100, 1000, 4097}) {
    const epoch_plan p(42, 3, n, 1);
    std::vector<std::int64_t> v;
    for (std::int64_t i = 0; i < n; ++i) v.push_back(p.at(i));
    std::sort(v.begin(), v.end());
    for (std::int64_t i = 0; i < n; ++i) REQUIRE(v[static_cast<std::size_t>(i)] == i);
  }
}

TEST_CASE("epoch_plan: reproducible, and different across epochs and seeds") {
  const epoch_plan a(7, 0, 1000, 32), b(7, 0, 1000, 32), c(7, 1, 1000, 32), d(8, 0, 1000, 32);
  CHECK(a.steps() == 31);  // last short batch dropped
  CHECK(a.global_ids(5) == b.global_ids(5));
  CHECK(a.global_ids(5) != c.global_ids(5));
  CHECK(a.global_ids(5) != d.global_ids(5));
  // Not the identity: a shuffle moves most samples.
  int fixed = 0;
  for (std::int64_t i = 0; i < 1000; ++i) fixed += a.at(i) == i;
  CHECK(fixed < 20);
}

TEST_CASE("epoch_plan: rank slices are disjoint and their union is the global batch") {
  const std::int64_t n = 1000, G = 64;
  for (int world : {1, 2, 4}) {
    const epoch_plan p(1, 2, n, G);
    std::set<std::int64_t> seen_epoch;
    for (std::int64_t s = 0; s < p.steps(); ++s) {
      std::vector<std::int64_t> joined;
      for (int r = 0; r < world; ++r) {
        const auto ids = p.rank_ids(s, r, world);
        CHECK(static_cast<std::int64_t>(ids.size()) == G / world);
        joined.insert(joined.end(), ids.begin(), ids.end());
      }
      REQUIRE(joined == p.global_ids(s));  // rank order = global order
      for (auto id : joined) REQUIRE(seen_epoch.insert(id).second);
    }
    CHECK(static_cast<std::int64_t>(seen_epoch.size()) == p.steps() * G);
  }
}

TEST_CASE("epoch_plan: clear errors") {
  const epoch_plan p(1, 0, 100, 30);
  CHECK_THROWS_WITH_AS(p.rank_ids(0, 0, 4),
                       doctest::Contains("not divisible by the number of ranks 4"),
                       skyssl::data_error);
  CHECK_THROWS_WITH_AS(p.global_ids(3), doctest::Contains("step 3 outside [0, 3)"),
                       skyssl::data_error);
  CHECK_THROWS_AS(epoch_plan(1, 0, 0, 4), skyssl::data_error);
  CHECK_THROWS_AS(epoch_plan(1, 0, 10, 0), skyssl::data_error);
}
