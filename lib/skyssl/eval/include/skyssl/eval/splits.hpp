#pragma once
// Train/test splits of an archive's labelled rows that every encoder of one evaluation shares:
// rows are ordered by a keyed hash of their global row (counter-based RNG, purpose user+2), the
// first ones form the test set, the rest the training pool in that same order, so that the
// training subsets of a label-count curve (the first 64, 128, ... of the pool) are nested and
// random, and the split does not depend on the encoder, the rank count or the file layout.
#include <cstdint>
#include <vector>

namespace skyssl::eval {

struct split_options {
  double test_fraction = 0.5;   // share of the labelled rows in the test set ...
  std::int64_t test_count = 0;  // ... or exactly this many (> 0 wins)
  std::uint64_t seed = 0;
};

struct split {
  std::vector<std::int64_t> train;  // hash order: the first n are a random subset of size n
  std::vector<std::int64_t> test;   // ascending row order
};

// `rows` are the candidate rows (e.g. those with a valid label). data_error when the test or
// the training set would be empty.
split make_split(const std::vector<std::int64_t>& rows, const split_options& options);

// The label counts of a curve that fit in a pool of `pool` rows, ascending, with `pool` itself
// (all) last; counts above the pool are dropped.
std::vector<std::int64_t> curve_counts(const std::vector<std::int64_t>& requested,
                                       std::int64_t pool);

}  // namespace skyssl::eval
