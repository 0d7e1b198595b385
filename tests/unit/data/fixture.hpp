#pragma once
// Small archives with known pixels for the data tests: pixel (id, c, y, x) of global sample
// `id` is id*1000 + c*100 + y*10 + x (exact in float32 for the sizes used here).
#include <hdf5.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "skyssl/data/writer.hpp"

namespace skyssl::test {

inline float pixel_value(std::int64_t id, int c, int y, int x) {
  return static_cast<float>(id * 1000 + c * 100 + y * 10 + x);
}

// Writes rows [first_id, first_id + n) of a synthetic concatenation to one file.
inline void write_test_archive(const std::string& path, std::int64_t first_id, std::int64_t n,
                               int C = 3, int H = 4, int W = 5) {
  data::writer_options o;
  o.path = path;
  o.count = n;
  o.channels = C;
  o.height = H;
  o.width = W;
  o.bands = C == 3 ? std::vector<std::string>{"g", "r", "z"}
                   : std::vector<std::string>{"u", "g", "r", "i", "z"};
  o.pixel_scale = 0.262;
  o.survey = "test";
  o.fields = {{"ebv", data::field_type::f32}, {"objid", data::field_type::i64}};
  for (const auto& b : o.bands) o.fields.push_back({"psfsize_" + b, data::field_type::f32});
  data::archive_writer w(o);
  std::vector<float> img(static_cast<std::size_t>(n * C * H * W));
  std::size_t k = 0;
  for (std::int64_t i = 0; i < n; ++i)
    for (int c = 0; c < C; ++c)
      for (int y = 0; y < H; ++y)
        for (int x = 0; x < W; ++x) img[k++] = pixel_value(first_id + i, c, y, x);
  w.write_images(0, n, img.data());
  std::vector<float> ebv, psf;
  std::vector<std::int64_t> ids;
  for (std::int64_t i = 0; i < n; ++i) {
    ebv.push_back(0.001f * static_cast<float>(first_id + i));
    ids.push_back(first_id + i);
  }
  w.write_field("ebv", 0, n, ebv.data());
  w.write_field("objid", 0, n, ids.data());
  for (int c = 0; c < C; ++c) {
    psf.clear();
    for (std::int64_t i = 0; i < n; ++i)
      psf.push_back(1.0f + 0.5f * c + 0.0001f * static_cast<float>(first_id + i));
    w.write_field("psfsize_" + o.bands[static_cast<std::size_t>(c)], 0, n, psf.data());
  }
  w.close();
}

// Overwrites pixel (row, c, y, x) of a file's `images` in place: the NaN/Inf of the
// non-finite tests.
inline void poison_pixel(const std::string& path, hsize_t row, hsize_t c, hsize_t y, hsize_t x,
                         float v) {
  const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  const hid_t d = H5Dopen2(f, "images", H5P_DEFAULT);
  const hid_t s = H5Dget_space(d);
  const hsize_t start[4] = {row, c, y, x}, count[4] = {1, 1, 1, 1};
  H5Sselect_hyperslab(s, H5S_SELECT_SET, start, nullptr, count, nullptr);
  const hid_t m = H5Screate_simple(4, count, nullptr);
  H5Dwrite(d, H5T_NATIVE_FLOAT, m, s, H5P_DEFAULT, &v);
  H5Sclose(m);
  H5Sclose(s);
  H5Dclose(d);
  H5Fclose(f);
}

}  // namespace skyssl::test
