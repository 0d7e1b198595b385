#include "skyssl/data/detail/direct_rows.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "skyssl/core/error.hpp"
#include "skyssl/data/h5.hpp"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "lib/data's direct reads decode little-endian data in place: port stored_type_of first"
#endif

namespace skyssl::data::detail {

bool stored_type_of(hid_t type, stored_type& out) {
  if (H5Tequal(type, H5T_IEEE_F32LE) > 0) {
    out = stored_type::f32;
  } else if (H5Tequal(type, H5T_IEEE_F64LE) > 0) {
    out = stored_type::f64;
  } else if (H5Tequal(type, H5T_STD_U16LE) > 0) {
    out = stored_type::u16;
  } else if (H5Tequal(type, H5T_STD_I32LE) > 0) {
    out = stored_type::i32;
  } else if (H5Tequal(type, H5T_STD_I64LE) > 0) {
    out = stored_type::i64;
  } else if (H5Tget_class(type) == H5T_FLOAT && H5Tget_size(type) == 2 &&
             H5Tget_order(type) == H5T_ORDER_LE) {
    // IEEE binary16 (what numpy's float16 writes): sign 15, exponent 10..14, mantissa 0..9.
    std::size_t spos, epos, esize, mpos, msize;
    if (H5Tget_fields(type, &spos, &epos, &esize, &mpos, &msize) < 0) return false;
    if (spos != 15 || epos != 10 || esize != 5 || mpos != 0 || msize != 10 ||
        H5Tget_ebias(type) != 15)
      return false;
    out = stored_type::f16;
  } else {
    return false;
  }
  return true;
}

direct_rows::direct_rows(hid_t dset) {
  h5::handle type(H5Dget_type(dset));
  if (!stored_type_of(type.get(), type_)) {
    reason_ = fmt::format("its type ({}) is not a little-endian type decoded here",
                          h5::type_name(type.get()));
    return;
  }
  h5::handle space(H5Dget_space(dset));
  rank_ = H5Sget_simple_extent_ndims(space.get());
  if (rank_ < 1) {
    reason_ = "it is a scalar";
    return;
  }
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank_));
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  std::size_t row = stored_size(type_);
  for (int d = 1; d < rank_; ++d)
    if (__builtin_mul_overflow(row, dims[static_cast<std::size_t>(d)], &row)) {
      reason_ = "its row size overflows 64 bits";
      return;
    }
  row_bytes_ = row;
  h5::handle dcpl(H5Dget_create_plist(dset));
  if (const int nf = H5Pget_nfilters(dcpl.get()); nf > 0) {
    char name[64] = {0};
    unsigned flags = 0, cd[8];
    std::size_t ncd = 8;
    H5Pget_filter2(dcpl.get(), 0, &flags, &ncd, cd, sizeof name, name, nullptr);
    reason_ = fmt::format("it is filtered ({}{})", name[0] ? name : "a filter",
                          nf > 1 ? fmt::format(" and {} more", nf - 1) : "");
    return;
  }
  if (H5Pget_external_count(dcpl.get()) > 0) {
    reason_ = "its data is in external files";
    return;
  }
  switch (H5Pget_layout(dcpl.get())) {
    case H5D_CONTIGUOUS: {
      const haddr_t off = H5Dget_offset(dset);
      if (off == HADDR_UNDEF) {
        H5Eclear2(H5E_DEFAULT);
        reason_ = "its storage is not allocated (never written)";
        return;
      }
      offset_ = off;
      return;
    }
    case H5D_CHUNKED: {
      std::vector<hsize_t> chunk(static_cast<std::size_t>(rank_));
      H5Pget_chunk(dcpl.get(), rank_, chunk.data());
      for (int d = 1; d < rank_; ++d)
        if (chunk[static_cast<std::size_t>(d)] != dims[static_cast<std::size_t>(d)]) {
          reason_ = "its chunks hold parts of rows";
          return;
        }
      // Chunk addresses are relative to the superblock's base address; with a user block
      // before it, trust HDF5 rather than guess.
      h5::handle file(H5Iget_file_id(dset));
      h5::handle fcpl(H5Fget_create_plist(file.get()));
      hsize_t userblock = 0;
      H5Pget_userblock(fcpl.get(), &userblock);
      if (userblock > 0) {
        reason_ = "the file has a user block before chunked data";
        return;
      }
      chunked_ = true;
      chunk_rows_ = static_cast<std::int64_t>(chunk[0]);
      return;
    }
    case H5D_COMPACT:
      reason_ = "its layout is compact (stored in the object header)";
      return;
    case H5D_VIRTUAL:
      reason_ = "it is a virtual dataset";
      return;
    default:
      reason_ = "its layout is unknown";
      return;
  }
}

std::uint64_t direct_rows::row_offset(hid_t dset, std::int64_t row) const {
  if (!chunked_) return offset_ + static_cast<std::uint64_t>(row) * row_bytes_;
  const std::int64_t c = row / chunk_rows_;
  const std::uint64_t within = static_cast<std::uint64_t>(row % chunk_rows_) * row_bytes_;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const auto it = chunks_.find(c);
    if (it != chunks_.end()) return it->second == unallocated ? unallocated : it->second + within;
  }
  std::uint64_t at = unallocated;
  {
    std::lock_guard<std::recursive_mutex> lock(h5::mutex());
    std::vector<hsize_t> coord(static_cast<std::size_t>(rank_), 0);
    coord[0] = static_cast<hsize_t>(c * chunk_rows_);
    unsigned mask = 0;
    haddr_t addr = HADDR_UNDEF;
    hsize_t size = 0;
    if (H5Dget_chunk_info_by_coord(dset, coord.data(), &mask, &addr, &size) < 0 ||
        addr == HADDR_UNDEF || size == 0) {
      H5Eclear2(H5E_DEFAULT);
    } else {
      at = addr;
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  chunks_[c] = at;
  return at == unallocated ? unallocated : at + within;
}

void pread_all(int fd, void* dst, std::size_t bytes, std::uint64_t offset,
               const std::string& path) {
  auto* p = static_cast<char*>(dst);
  while (bytes > 0) {
    const ssize_t n = ::pread(fd, p, bytes, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw archive_error(fmt::format("archive file '{}': read of {} bytes at offset {} failed: {}",
                                      path, bytes, offset, std::strerror(errno)));
    }
    if (n == 0)
      throw archive_error(
          fmt::format("archive file '{}' ends before offset {} (truncated? {} bytes missing)", path,
                      offset, bytes));
    p += n;
    bytes -= static_cast<std::size_t>(n);
    offset += static_cast<std::uint64_t>(n);
  }
}

}  // namespace skyssl::data::detail
