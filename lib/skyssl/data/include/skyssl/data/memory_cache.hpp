#pragma once
// data.cache = "memory": the archive held in the memory of the ranks, each rank a fixed
// contiguous share of 1/R of the rows (images and the catalogue fields the augmentations use),
// read once, in parallel, when training starts. Every step, each rank packs the rows the other
// ranks need from its share (the epoch plan says which: no request round) and one all-to-all
// exchange delivers them (lib/train does the exchange through lib/dist; this class only holds,
// packs and unpacks rows). The global shuffle stays exact and the filesystem is read once.
//
//   [data]
//   cache = "none" | "memory"
//   cache_limit_gb = 0      # memory a node may give the cache (0: what /proc/meminfo says is
//                           # available when the run starts)
#include <cstdint>
#include <string>
#include <vector>

#include "skyssl/data/archive.hpp"
#include "skyssl/data/options.hpp"
#include "skyssl/data/sample_batch.hpp"

namespace skyssl {
class config;
}

namespace skyssl::data {

// Floats per cached row: C*H*W pixels, E(B-V), C PSF FWHMs.
std::int64_t cache_row_floats(int channels, int height, int width);
// First row of rank r's share: floor(n * r / R).
std::int64_t cache_share_begin(std::int64_t n, int rank, int world);
// Bytes the largest share takes.
std::int64_t cache_bytes_per_rank(std::int64_t n, int channels, int height, int width, int world);
// MemAvailable from /proc/meminfo in bytes, 0 when it cannot be read.
std::int64_t available_memory_bytes();
// Throws data_error naming data.cache (and data.cache_limit_gb) when ranks_on_node shares of
// bytes_per_rank do not fit in limit_bytes (limit_from says where the limit came from).
void check_cache_fits(std::int64_t bytes_per_rank, int ranks_on_node, std::int64_t limit_bytes,
                      const std::string& limit_from, const std::string& archive_name);

class memory_cache {
 public:
  // Reads this rank's share (rows [begin(rank), begin(rank+1))) after checking that the node's
  // shares fit (check_cache_fits). data.nonfinite: "error" makes a NaN/Inf pixel a data_error
  // naming the file, dataset, sample and pixel; "zero" stores 0 there; "skip" stores the rows
  // as they are (those samples are never in an epoch plan).
  memory_cache(const archive& a, const cache_options& opts, int rank, int world, int ranks_on_node,
               nonfinite_policy nonfinite);

  int owner(std::int64_t id) const;  // the rank whose share holds global row `id`
  std::int64_t begin() const { return begin_; }
  std::int64_t end() const { return end_; }
  std::int64_t row_floats() const { return row_; }
  std::int64_t bytes() const { return static_cast<std::int64_t>(rows_.size()) * 4; }
  // Copies the rows of `ids` (all in this share) to out, row_floats() floats each.
  void pack(const std::vector<std::int64_t>& ids, float* out) const;
  // A sample_batch from n packed rows (n x row_floats(), in `ids` order).
  sample_batch unpack(const float* rows, const std::vector<std::int64_t>& ids, std::int64_t epoch,
                      std::int64_t step) const;

 private:
  std::int64_t n_, begin_, end_, row_;
  int world_, channels_, height_, width_;
  std::vector<float> rows_;  // (end - begin) x row_
};

}  // namespace skyssl::data
