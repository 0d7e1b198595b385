#include "tests/fuzz/common/h5_builder.hpp"

#include <algorithm>
#include <cstdint>

namespace skyssl::fuzz {
namespace {
constexpr std::uint64_t max_written_bytes = 256 << 10;  // data actually written per dataset
// A write to a contiguous dataset allocates its whole extent in the file (a hole on disk). Up to
// 1 TiB that is the sparse file a reader must not trust; beyond, the file system refuses
// (EFBIG), H5Fclose fails, and the half-closed file crashed HDF5's cleanup at exit.
constexpr std::uint64_t max_contiguous_extent = 1ULL << 40;
}  // namespace

h5_builder::h5_builder(FuzzedDataProvider& in, const std::filesystem::path& path) : in_(in) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  file_ = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
}

h5_builder::~h5_builder() {
  if (file_ >= 0) H5Fclose(file_);
}

hsize_t h5_builder::dim() {
  switch (in_.ConsumeIntegralInRange<int>(0, 13)) {
    case 0:
      return 0;
    case 1:
      return 1;
    case 2:
      return 2;
    case 3:
      return 3;
    case 4:
      return 5;
    case 5:
      return 64;
    case 6:
      return 2147483647ULL;
    case 7:
      return 2147483648ULL;
    case 8:
      return 4294967297ULL;
    case 9:
      return 1ULL << 40;
    case 10:
      return 1ULL << 62;
    default:
      return in_.ConsumeIntegralInRange<hsize_t>(0, 300);
  }
}

hid_t h5_builder::type() {
  switch (in_.ConsumeIntegralInRange<int>(0, 11)) {
    case 0:
      return H5Tcopy(H5T_IEEE_F32LE);
    case 1:
      return H5Tcopy(H5T_IEEE_F32BE);
    case 2:
      return H5Tcopy(H5T_IEEE_F64LE);
    case 3: {  // IEEE binary16, as numpy writes it
      const hid_t t = H5Tcopy(H5T_IEEE_F32LE);
      H5Tset_fields(t, 15, 10, 5, 0, 10);
      H5Tset_size(t, 2);
      H5Tset_ebias(t, 15);
      return t;
    }
    case 4:
      return H5Tcopy(H5T_STD_U16LE);
    case 5:
      return H5Tcopy(H5T_STD_I8LE);
    case 6:
      return H5Tcopy(H5T_STD_I32LE);
    case 7:
      return H5Tcopy(H5T_STD_I64LE);
    case 8:
      return H5Tcopy(H5T_STD_U64LE);
    case 9: {
      const hid_t t = H5Tcopy(H5T_C_S1);
      H5Tset_size(t, in_.ConsumeIntegralInRange<std::size_t>(1, 16));
      return t;
    }
    case 10:
      return H5Tcopy(H5T_STD_U8LE);
    default:
      return H5Tcopy(H5T_IEEE_F32LE);
  }
}

bool h5_builder::dataset(hid_t loc, const char* name, std::vector<hsize_t> dims, hid_t t) {
  const hid_t ty = t >= 0 ? H5Tcopy(t) : type();
  const hid_t space = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
  const hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  std::uint64_t total = H5Tget_size(ty);
  bool overflow = false;
  for (const auto d : dims) overflow = overflow || __builtin_mul_overflow(total, d, &total);
  const int layout = in_.ConsumeIntegralInRange<int>(0, 3);
  std::uint64_t chunk_bytes = 0;  // 0: not chunked
  if (layout == 1 || layout == 2) {
    std::vector<hsize_t> chunk(dims.size());
    chunk_bytes = H5Tget_size(ty);
    for (std::size_t k = 0; k < dims.size(); ++k) {
      chunk[k] = std::max<hsize_t>(
          1, std::min<hsize_t>(dims[k], in_.ConsumeIntegralInRange<hsize_t>(1, 16)));
      chunk_bytes *= chunk[k];
    }
    H5Pset_chunk(dcpl, static_cast<int>(chunk.size()), chunk.data());
    if (layout == 2) H5Pset_deflate(dcpl, 1);
  } else if (layout == 3 && !overflow && total < 16000) {
    H5Pset_layout(dcpl, H5D_COMPACT);
  }
  bool ok = false;
  if (space >= 0) {
    const hid_t d = H5Dcreate2(loc, name, ty, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    ok = d >= 0;
    // Write all, a leading part (rows) or nothing, from the fuzzer's bytes.
    const int write = in_.ConsumeIntegralInRange<int>(0, 2);
    if (ok && write > 0 && !overflow && total > 0 && !dims.empty()) {
      hsize_t rows = dims[0];
      std::uint64_t row_bytes = total / std::max<hsize_t>(dims[0], 1);
      if (write == 2) rows = in_.ConsumeIntegralInRange<hsize_t>(0, dims[0]);
      // Bounded work for the generator itself: at most 4096 chunks written (HDF5 writes many
      // tiny deflated chunks slowly, which a timeout would report as a hang of the reader).
      const bool few_chunks = chunk_bytes == 0 || rows * row_bytes / chunk_bytes <= 4096;
      const bool extent_ok = chunk_bytes != 0 || total <= max_contiguous_extent;
      if (rows > 0 && row_bytes > 0 && rows * row_bytes <= max_written_bytes && few_chunks &&
          extent_ok) {
        std::string buf = in_.ConsumeBytesAsString(rows * row_bytes);
        buf.resize(rows * row_bytes, '\x3f');
        std::vector<hsize_t> start(dims.size(), 0), count = dims;
        count[0] = rows;
        const hid_t fs = H5Dget_space(d);
        H5Sselect_hyperslab(fs, H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr);
        const hid_t ms = H5Screate_simple(static_cast<int>(count.size()), count.data(), nullptr);
        H5Dwrite(d, ty, ms, fs, H5P_DEFAULT, buf.data());
        H5Sclose(ms);
        H5Sclose(fs);
      }
    }
    if (d >= 0) H5Dclose(d);
    H5Sclose(space);
  }
  H5Pclose(dcpl);
  H5Tclose(ty);
  return ok;
}

void h5_builder::attribute(hid_t loc, const char* name) {
  const int kind = in_.ConsumeIntegralInRange<int>(0, 4);
  hid_t ty = -1, space = -1;
  std::string text;
  std::vector<std::string> many;
  double dv = 0;
  std::int64_t iv = 0;
  if (kind == 0) {  // one fixed-length string
    text = in_.ConsumeRandomLengthString(24);
    ty = H5Tcopy(H5T_C_S1);
    H5Tset_size(ty, std::max<std::size_t>(1, text.size()));
    space = H5Screate(H5S_SCALAR);
  } else if (kind == 1) {  // an array of variable-length strings
    const int n = in_.ConsumeIntegralInRange<int>(0, 6);
    for (int i = 0; i < n; ++i) many.push_back(in_.ConsumeRandomLengthString(4));
    ty = H5Tcopy(H5T_C_S1);
    H5Tset_size(ty, H5T_VARIABLE);
    const hsize_t d = many.size();
    space = H5Screate_simple(1, &d, nullptr);
  } else if (kind == 2) {
    dv = in_.ConsumeFloatingPoint<double>();
    ty = H5Tcopy(H5T_IEEE_F64LE);
    space = H5Screate(H5S_SCALAR);
  } else if (kind == 3) {
    iv = in_.ConsumeIntegral<std::int64_t>();
    ty = H5Tcopy(H5T_STD_I64LE);
    space = H5Screate(H5S_SCALAR);
  } else {
    ty = H5Tcopy(H5T_IEEE_F64LE);
    space = H5Screate(H5S_NULL);
  }
  const hid_t a = H5Acreate2(loc, name, ty, space, H5P_DEFAULT, H5P_DEFAULT);
  if (a >= 0) {
    if (kind == 0) {
      text.resize(std::max<std::size_t>(1, text.size()), '\0');
      H5Awrite(a, ty, text.data());
    } else if (kind == 1) {
      std::vector<const char*> p;
      for (const auto& s : many) p.push_back(s.c_str());
      if (!p.empty()) H5Awrite(a, ty, p.data());
    } else if (kind == 2) {
      H5Awrite(a, H5T_NATIVE_DOUBLE, &dv);
    } else if (kind == 3) {
      H5Awrite(a, H5T_NATIVE_INT64, &iv);
    }
    H5Aclose(a);
  }
  H5Sclose(space);
  H5Tclose(ty);
}

void h5_builder::foreign(hid_t loc, const char* name, const std::filesystem::path& other) {
  switch (in_.ConsumeIntegralInRange<int>(0, 3)) {
    case 0:
      H5Lcreate_soft(in_.ConsumeBool() ? "/images" : "/nowhere", loc, name, H5P_DEFAULT,
                     H5P_DEFAULT);
      break;
    case 1:
      H5Lcreate_external(in_.ConsumeBool() ? other.c_str() : "/nonexistent/file.h5",
                         in_.ConsumeBool() ? "images" : "backbone", loc, name, H5P_DEFAULT,
                         H5P_DEFAULT);
      break;
    case 2: {
      const hsize_t d[4] = {dim() % 8, 1, 2, 2};
      const hid_t space = H5Screate_simple(4, d, nullptr);
      const hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
      H5Pset_external(dcpl, other.c_str(), 0, H5F_UNLIMITED);
      const hid_t ds = H5Dcreate2(loc, name, H5T_IEEE_F32LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
      if (ds >= 0) H5Dclose(ds);
      H5Pclose(dcpl);
      H5Sclose(space);
      break;
    }
    default: {
      const hsize_t d[4] = {dim() % 8, 1, 2, 2};
      const hid_t space = H5Screate_simple(4, d, nullptr);
      const hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
      H5Pset_virtual(dcpl, space, other.c_str(), "images", space);
      const hid_t ds = H5Dcreate2(loc, name, H5T_IEEE_F32LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
      if (ds >= 0) H5Dclose(ds);
      H5Pclose(dcpl);
      H5Sclose(space);
    }
  }
}

}  // namespace skyssl::fuzz
