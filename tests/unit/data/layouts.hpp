#pragma once
// Archives in the layouts users' own files have, written with the HDF5 C API: contiguous or
// chunked (optionally deflate-compressed, optionally with chunks never written), images as
// float32, float16 or uint16, with 1-D float32/float64/int64 fields. Pixel values are a pure
// function of (global id, c, y, x) so a test can compute them independently.
#include <hdf5.h>

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace skyssl::test {

enum class pixel_kind { f32, f16, u16 };

struct layout_spec {
  pixel_kind kind = pixel_kind::f32;
  hsize_t chunk_rows = 0;     // 0: contiguous
  int deflate = 0;            // > 0: gzip level (chunked only)
  std::int64_t written = -1;  // rows actually written (chunked: the rest stays unallocated)
  int C = 3, H = 4, W = 5;
};

inline std::uint32_t mix(std::uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return static_cast<std::uint32_t>(x);
}

// The stored 16-bit pattern of pixel (id, c, y, x): any finite float16 (subnormals included)
// or any uint16.
inline std::uint16_t bits16(pixel_kind k, std::int64_t id, int c, int y, int x) {
  std::uint16_t b =
      static_cast<std::uint16_t>(mix(static_cast<std::uint64_t>(id) * 1000003u +
                                     static_cast<std::uint64_t>(c * 100 + y * 10 + x)));
  if (k == pixel_kind::f16 && (b & 0x7c00u) == 0x7c00u) b &= 0xbfffu;  // no Inf/NaN
  return b;
}

inline float f32_value(std::int64_t id, int c, int y, int x) {
  return static_cast<float>(id * 1000 + c * 100 + y * 10 + x);
}

inline void h5_ok(herr_t s, const char* what) {
  if (s < 0) throw std::runtime_error(std::string("test archive: ") + what);
}

// Rows [first_id, first_id + n) in `path`, attributes bands/pixel_scale, fields ebv (f32),
// z (f64), objid (i64), all in the same layout as the images.
inline void write_layout_archive(const std::string& path, std::int64_t first_id, std::int64_t n,
                                 const layout_spec& s) {
  const hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  h5_ok(static_cast<herr_t>(f), "create");
  const std::int64_t written = s.written < 0 ? n : s.written;
  auto dcpl_for = [&](int rank, const hsize_t* dims) {
    const hid_t p = H5Pcreate(H5P_DATASET_CREATE);
    if (s.chunk_rows > 0) {
      std::vector<hsize_t> c(dims, dims + rank);
      c[0] = s.chunk_rows;
      H5Pset_chunk(p, rank, c.data());
      if (s.deflate > 0) H5Pset_deflate(p, static_cast<unsigned>(s.deflate));
    }
    return p;
  };
  const hsize_t dims[4] = {static_cast<hsize_t>(n), static_cast<hsize_t>(s.C),
                           static_cast<hsize_t>(s.H), static_cast<hsize_t>(s.W)};
  const std::size_t per = static_cast<std::size_t>(s.C * s.H * s.W);
  {
    const hid_t space = H5Screate_simple(4, dims, nullptr);
    const hid_t p = dcpl_for(4, dims);
    hid_t ftype = H5T_IEEE_F32LE, mtype = H5T_NATIVE_FLOAT;
    hid_t half = -1;
    if (s.kind == pixel_kind::u16) {
      ftype = mtype = H5T_STD_U16LE;
    } else if (s.kind == pixel_kind::f16) {
      half = H5Tcopy(H5T_IEEE_F32LE);  // IEEE binary16, as numpy's float16
      H5Tset_fields(half, 15, 10, 5, 0, 10);
      H5Tset_size(half, 2);
      H5Tset_ebias(half, 15);
      ftype = mtype = half;
    }
    const hid_t d = H5Dcreate2(f, "images", ftype, space, H5P_DEFAULT, p, H5P_DEFAULT);
    h5_ok(static_cast<herr_t>(d), "images");
    if (written > 0) {
      std::vector<char> buf(static_cast<std::size_t>(written) * per *
                            (s.kind == pixel_kind::f32 ? 4 : 2));
      std::size_t k = 0;
      for (std::int64_t i = 0; i < written; ++i)
        for (int c = 0; c < s.C; ++c)
          for (int y = 0; y < s.H; ++y)
            for (int x = 0; x < s.W; ++x, ++k) {
              if (s.kind == pixel_kind::f32) {
                const float v = f32_value(first_id + i, c, y, x);
                std::memcpy(buf.data() + k * 4, &v, 4);
              } else {
                const std::uint16_t v = bits16(s.kind, first_id + i, c, y, x);
                std::memcpy(buf.data() + k * 2, &v, 2);
              }
            }
      const hsize_t start[4] = {0, 0, 0, 0};
      const hsize_t count[4] = {static_cast<hsize_t>(written), dims[1], dims[2], dims[3]};
      const hid_t fs = H5Dget_space(d);
      H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, nullptr, count, nullptr);
      const hid_t ms = H5Screate_simple(4, count, nullptr);
      h5_ok(H5Dwrite(d, mtype, ms, fs, H5P_DEFAULT, buf.data()), "write images");
      H5Sclose(ms);
      H5Sclose(fs);
    }
    if (half >= 0) H5Tclose(half);
    H5Dclose(d);
    H5Pclose(p);
    H5Sclose(space);
  }
  auto field = [&](const char* name, hid_t ftype, hid_t mtype, auto value) {
    using T = decltype(value(0));
    const hid_t space = H5Screate_simple(1, dims, nullptr);
    const hid_t p = dcpl_for(1, dims);
    const hid_t d = H5Dcreate2(f, name, ftype, space, H5P_DEFAULT, p, H5P_DEFAULT);
    h5_ok(static_cast<herr_t>(d), name);
    if (written > 0) {
      std::vector<T> v(static_cast<std::size_t>(written));
      for (std::int64_t i = 0; i < written; ++i)
        v[static_cast<std::size_t>(i)] = value(first_id + i);
      const hsize_t start = 0, count = static_cast<hsize_t>(written);
      const hid_t fs = H5Dget_space(d);
      H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, nullptr, &count, nullptr);
      const hid_t ms = H5Screate_simple(1, &count, nullptr);
      h5_ok(H5Dwrite(d, mtype, ms, fs, H5P_DEFAULT, v.data()), name);
      H5Sclose(ms);
      H5Sclose(fs);
    }
    H5Dclose(d);
    H5Pclose(p);
    H5Sclose(space);
  };
  field("ebv", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT,
        [](std::int64_t id) { return 0.001f * static_cast<float>(id); });
  field("z", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE,
        [](std::int64_t id) { return 0.5 + 1e-7 * static_cast<double>(id); });
  field("objid", H5T_STD_I64LE, H5T_NATIVE_INT64, [](std::int64_t id) { return id * 7 + 3; });
  const hid_t as = H5Screate(H5S_SCALAR);
  const hid_t a = H5Acreate2(f, "pixel_scale", H5T_IEEE_F64LE, as, H5P_DEFAULT, H5P_DEFAULT);
  const double scale = 0.262;
  H5Awrite(a, H5T_NATIVE_DOUBLE, &scale);
  H5Aclose(a);
  H5Sclose(as);
  H5Fclose(f);
}

}  // namespace skyssl::test
