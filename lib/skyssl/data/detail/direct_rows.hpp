#pragma once
// Where the rows of one HDF5 dataset lie in its file, so they can be read with pread(2) at
// storage speed instead of through HDF5 selections: the offset of a contiguous dataset
// (H5Dget_offset) or, for unfiltered chunks that hold whole rows, each chunk's address
// (H5Dget_chunk_info_by_coord, HDF5 >= 1.10.5), looked up on first use and cached. Datasets
// that cannot be read this way (filters, external or virtual storage, byte orders other than
// the host's, partial-row chunks, a user block before chunked data) say why in `reason`.
// Private to lib/data; every HDF5 call here expects the caller to hold h5::mutex().
#include <hdf5.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

#include "skyssl/data/detail/decode.hpp"

namespace skyssl::data::detail {

class direct_rows {
 public:
  static constexpr std::uint64_t unallocated = ~std::uint64_t{0};

  // Probes `dset` (rank >= 1, rows along dimension 0).
  explicit direct_rows(hid_t dset);
  direct_rows(const direct_rows&) = delete;
  direct_rows& operator=(const direct_rows&) = delete;

  bool usable() const { return reason_.empty(); }
  const std::string& reason() const { return reason_; }  // "" when usable
  bool chunked() const { return chunked_; }
  stored_type type() const { return type_; }
  std::size_t row_bytes() const { return row_bytes_; }
  std::int64_t chunk_rows() const { return chunk_rows_; }

  // File offset of `row`, or `unallocated` when its chunk was never written (HDF5 then
  // supplies the fill value). For chunked data the first row of each chunk needs `dset` open
  // and the HDF5 lock (taken here); later rows of that chunk come from the cache.
  std::uint64_t row_offset(hid_t dset, std::int64_t row) const;
  // True when `a` and `b` = a + 1 are adjacent in the file (same contiguous extent).
  bool adjacent(std::int64_t a) const { return !chunked_ || (a + 1) % chunk_rows_ != 0; }

 private:
  std::string reason_;
  bool chunked_ = false;
  stored_type type_ = stored_type::f32;
  std::size_t row_bytes_ = 0;
  std::uint64_t offset_ = 0;     // contiguous: offset of row 0
  std::int64_t chunk_rows_ = 0;  // chunked: rows per chunk
  int rank_ = 0;
  mutable std::mutex mu_;
  mutable std::unordered_map<std::int64_t, std::uint64_t> chunks_;  // chunk -> offset
};

// The stored type of an HDF5 datatype when its bytes can be decoded here (little-endian
// IEEE float16/32/64, uint16, int32, int64); false otherwise.
bool stored_type_of(hid_t type, stored_type& out);

// pread until `bytes` are in `dst`; archive_error naming `path` on an error or end of file.
void pread_all(int fd, void* dst, std::size_t bytes, std::uint64_t offset, const std::string& path);

}  // namespace skyssl::data::detail
