#pragma once
// The catalogue fields a training batch carries (ebv, psfsize_<band>), held in memory as
// float32: each file's column of a field is read whole, in one range read, the first time a
// row of that file is asked for, and every later row is served from memory. Random batches
// otherwise cost one small read per row and field (4 x 256 reads of 4 bytes per batch of 256,
// more than the non-finite check of the images). Memory: 4 bytes per row and field, e.g.
// 42M rows x 4 fields = 0.67 GB per rank, only for fields the archive has.
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "skyssl/data/archive.hpp"

namespace skyssl::data {

class field_cache {
 public:
  // `datasets`: dataset names in the files (archive::field_dataset), "" for a field the
  // archive lacks (never read). The archive must outlive the cache.
  field_cache(const archive& a, std::vector<std::string> datasets);
  field_cache(const field_cache&) = delete;
  field_cache& operator=(const field_cache&) = delete;

  std::size_t fields() const { return names_.size(); }
  bool has(std::size_t field) const { return !names_[field].empty(); }
  // Field `field` at sorted, distinct global rows (k < n) into out[k * stride]; float of the
  // double archive::read_column gives. Safe from any thread.
  void read(std::size_t field, const std::int64_t* sorted_rows, std::size_t n, float* out,
            std::size_t stride = 1) const;

 private:
  struct column {
    std::once_flag loaded;
    std::vector<float> values;
  };
  const archive& a_;
  std::vector<std::string> names_;
  std::vector<std::unique_ptr<column>> columns_;  // [field * files + file]
  const std::vector<float>& load(std::size_t field, std::size_t file) const;
};

}  // namespace skyssl::data
