#pragma once
// Pixel and field statistics of an archive for `skyssl-prep inspect`, at survey scale: over a
// sample of rows spread across the whole archive (stratified: one row drawn from each of
// `sample` equal strata, keyed by the counter-based generator) or over every row, in blocks of
// bounded memory, one share per rank; the parts merge exactly (counts, extrema, sums) or
// nearly (percentiles from a fixed-size subsample of pixels at deterministic positions).
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "skyssl/data/archive.hpp"

namespace skyssl::data {

struct value_stats {
  double lo = 0, hi = 0, sum = 0, sum2 = 0;
  std::int64_t n = 0, nan = 0, inf = 0;  // n: finite values
  void add(double v);
  void merge(const value_stats& o);
  std::string str() const;  // "min .. max .. mean .. std .. nan N  inf N"
};

// Sorted, distinct rows: all of [0, n) when count >= n, else one per stratum.
std::vector<std::int64_t> sample_rows(std::int64_t n, std::int64_t count, std::uint64_t seed);

struct pixel_stats {
  std::vector<value_stats> bands;        // per band
  std::vector<std::vector<float>> kept;  // per band: finite pixels kept for percentiles
  std::int64_t rows = 0;                 // rows read
  std::int64_t bad_rows = 0;             // rows with a NaN/Inf pixel
  std::int64_t first_bad = -1;           // lowest such global row
  void merge(const pixel_stats& o);
  // p in [0, 100] of band c's kept pixels (NaN when none).
  double percentile(int band, double p) const;
};

struct pixel_scan_options {
  std::int64_t block_bytes = std::int64_t{64} << 20;  // memory for one block of rows
  std::int64_t keep_per_band = 1 << 20;  // pixels kept per band for percentiles (this share)
  // Called after each block with (rows done, rows total); may print progress.
  std::function<void(std::int64_t, std::int64_t)> progress;
};

// Statistics of the given sorted rows.
pixel_stats scan_pixels(const archive& ar, const std::vector<std::int64_t>& rows,
                        const pixel_scan_options& options);
// The same for the contiguous rows [begin, end) (--all), without a row list.
pixel_stats scan_pixels(const archive& ar, std::int64_t begin, std::int64_t end,
                        const pixel_scan_options& options);

}  // namespace skyssl::data
