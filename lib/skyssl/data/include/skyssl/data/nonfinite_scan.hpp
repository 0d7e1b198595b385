#pragma once
// data.nonfinite = "skip": which samples hold NaN/Inf pixels (one scan of the archive), and
// the epoch plan over the others. The scan can be shared out between ranks; the caller (who
// owns the communicator) then passes the union, so every rank leaves out the same samples and
// the plan stays the same whatever the number of ranks.
#include <cstdint>
#include <functional>
#include <vector>

#include "skyssl/data/archive.hpp"

namespace skyssl::data {

// Rows in [begin, end) holding at least one non-finite pixel, ascending. Reads blocks of
// rows on `threads` threads (memory: threads x ~16 MB).
std::vector<std::int64_t> find_nonfinite_rows(const archive& ar, std::int64_t begin,
                                              std::int64_t end, int threads);

// Given this rank's rows, returns every rank's (any order): an all-gather, supplied by whoever
// holds the communicator (lib/data does not).
using row_exchange = std::function<std::vector<std::int64_t>(const std::vector<std::int64_t>&)>;

// Rows of the whole archive with non-finite pixels: rank r scans its 1/world share and
// `exchange` combines them, or (no exchange) this process scans everything. Sorted, distinct.
std::vector<std::int64_t> find_nonfinite_rows(const archive& ar, int rank, int world,
                                              const row_exchange& exchange, int threads);

// Positions 0..kept()-1 of the samples left after removing `excluded` (sorted, distinct) from
// [0, n): id(p) is the p-th remaining global id. O(log excluded) per id, memory ~ excluded.
class kept_rows {
 public:
  kept_rows() = default;
  kept_rows(std::int64_t n, std::vector<std::int64_t> excluded);
  std::int64_t kept() const { return n_ - static_cast<std::int64_t>(excluded_.size()); }
  std::int64_t id(std::int64_t position) const;
  const std::vector<std::int64_t>& excluded() const { return excluded_; }

 private:
  std::int64_t n_ = 0;
  std::vector<std::int64_t> excluded_;
};

}  // namespace skyssl::data
