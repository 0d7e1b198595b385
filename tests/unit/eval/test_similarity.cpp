#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "skyssl/core/error.hpp"
#include "skyssl/eval/knn.hpp"
#include "skyssl/search/similarity_index.hpp"

using namespace skyssl::eval;
using namespace skyssl::search;

TEST_CASE("similarity search finds exact matches first and scores are cosines") {
  const int d = 4;
  // Rows along the axes, scaled: normalisation must make the scale irrelevant.
  std::vector<float> rows = {2, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0.5f, 0, 0, 0, 0, 7, 1, 1, 0, 0};
  similarity_index idx(d);
  idx.add(rows.data(), 5);
  CHECK(idx.size() == 5);
  std::vector<float> q = {1, 0.1f, 0, 0, 0, 0, 0, -1};
  auto nn = idx.search(q.data(), 2, 2, /*chunk_rows=*/1);
  CHECK(nn.ids[0] == 0);
  CHECK(nn.ids[1] == 4);
  CHECK(nn.scores[0] == doctest::Approx(1 / std::sqrt(1.01)).epsilon(1e-5));
  CHECK(nn.scores[1] ==
        doctest::Approx((1 + 0.1) / std::sqrt(1.01) / std::sqrt(2.0)).epsilon(1e-5));
  // Anti-aligned query: best is a row orthogonal to it (score 0), never the opposite one.
  CHECK(nn.ids[2] != 3);
  CHECK(nn.scores[2] == doctest::Approx(0.0));
}

TEST_CASE("similarity index rejects zero rows and bad k") {
  similarity_index idx(2);
  std::vector<float> rows = {1, 0, 0, 0};
  CHECK_THROWS_WITH_AS(idx.add(rows.data(), 2), doctest::Contains("row 1"), skyssl::data_error);
  idx.add(rows.data(), 1);
  CHECK_THROWS_WITH_AS(idx.search(rows.data(), 1, 5), doctest::Contains("k = 5"), skyssl::error);
}

TEST_CASE("weighted k-NN vote and regression") {
  neighbours nn;
  nn.k = 3;
  nn.ids = {0, 1, 2};
  nn.scores = {0.9f, 0.5f, 0.49f};
  // The closest neighbour's class wins against two weaker votes at a low temperature.
  CHECK(knn_classify(nn, {1, 0, 0}, 2, 0.07f)[0] == 1);
  // At a high temperature the votes are nearly equal and the majority wins.
  CHECK(knn_classify(nn, {1, 0, 0}, 2, 100.0f)[0] == 0);
  // At T = 0.1 the weights exp((s_j - s_0) / T) are 1, e^-4, e^-4.1: far from the plain mean
  // 0.2333, so dropping or misplacing the weights shows.
  const double w1 = std::exp(-0.4 / 0.1), w2 = std::exp(-0.41 / 0.1);
  auto z = knn_regress(nn, {0.1, 0.3, 0.3}, 0.1f);
  CHECK(z[0] == doctest::Approx((0.1 + 0.3 * w1 + 0.3 * w2) / (1 + w1 + w2)).epsilon(1e-5));
  CHECK(z[0] < 0.11);
  CHECK_THROWS_AS(knn_classify(nn, {5, 0, 0}, 2), skyssl::data_error);
}
