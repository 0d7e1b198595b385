#pragma once
// The sample order of one epoch: a pure function of (seed, epoch, archive size, global batch).
// Global batch s holds positions [s*G, (s+1)*G) of a keyed permutation of [0, n); rank r of R
// takes the contiguous slice [r*G/R, (r+1)*G/R) of it, so the global order never depends on
// the number of ranks. The last short batch is dropped.
#include <cstdint>
#include <string>
#include <vector>

namespace skyssl::data {

class epoch_plan {
 public:
  // Throws data_error when n < 1 or global_batch < 1.
  epoch_plan(std::uint64_t seed, std::int64_t epoch, std::int64_t n, std::int64_t global_batch);

  std::int64_t steps() const { return steps_; }
  std::int64_t size() const { return n_; }
  std::int64_t global_batch() const { return batch_; }
  // The sample at position p of this epoch's permutation (0 <= p < n). O(1), no tables.
  std::int64_t at(std::int64_t position) const;
  std::vector<std::int64_t> global_ids(std::int64_t step) const;
  // Throws data_error unless 0 <= rank < world and global_batch % world == 0.
  std::vector<std::int64_t> rank_ids(std::int64_t step, int rank, int world) const;

 private:
  std::uint64_t seed_;
  std::int64_t epoch_, n_, batch_, steps_;
  int half_bits_;  // the Feistel network permutes [0, 4^half_bits_) >= n
  std::uint64_t feistel(std::uint64_t x) const;
};

// Where a reader may start: epoch >= 0 and 0 <= step < steps (an epoch's steps); data_error
// naming `who` (the function asked) otherwise.
void check_start(const std::string& who, std::int64_t epoch, std::int64_t step, std::int64_t steps);

}  // namespace skyssl::data
