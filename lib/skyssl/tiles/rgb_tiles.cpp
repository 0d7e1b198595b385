#include "skyssl/tiles/rgb_tiles.hpp"

#include <png.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "kernels/reference.hpp"
#include "skyssl/core/error.hpp"
#include "skyssl/core/durable_file.hpp"

namespace skyssl::tiles {

rgb_choice choose_rgb(const kernels::augment_config& c) {
  const std::string names = c.band_names;
  auto find = [&](const char* prefer) {
    for (const char* p = prefer; *p; ++p)
      if (auto i = names.find(*p); i != std::string::npos) return static_cast<int>(i);
    return -1;
  };
  rgb_choice r{{find("zi"), find("r"), find("g")}};  // z r g (DECaLS) or i r g (SDSS)
  if (r.band[0] < 0 || r.band[1] < 0 || r.band[2] < 0 || c.bands < 3)
    r = {{std::min(2, c.bands - 1), std::min(1, c.bands - 1), 0}};
  return r;
}

namespace {
int checked_side(std::int64_t side, std::int64_t other) {
  if (side < 1 || side > rgb_canvas::max_side || other < 1 || other > rgb_canvas::max_side ||
      side * other > rgb_canvas::max_pixels)
    throw data_error(fmt::format(
        "gallery: an image of {} x {} pixels is out of range (each side 1-{}, at most {} pixels); "
        "use a smaller zoom or fewer queries and neighbours",
        side, other, rgb_canvas::max_side, rgb_canvas::max_pixels));
  return static_cast<int>(side);
}
}  // namespace

rgb_canvas::rgb_canvas(std::int64_t width, std::int64_t height, unsigned char background)
    : w_(checked_side(width, height)),
      h_(checked_side(height, width)),
      px_(static_cast<std::size_t>(w_) * static_cast<std::size_t>(h_) * 3, background) {}

void rgb_canvas::paint(int x0, int y0, const float* view, int h, int w,
                       const kernels::augment_config& c, const rgb_choice& rgb, int zoom) {
  if (h < 1 || w < 1 || zoom < 1) return;
  kernels::reference::image im(3, h, w);
  const std::size_t plane = static_cast<std::size_t>(h) * static_cast<std::size_t>(w);
  float scale[3];
  for (int k = 0; k < 3; ++k) {
    scale[k] = c.stretch_scale[rgb.band[k]];
    for (std::size_t i = 0; i < plane; ++i)
      im.px[static_cast<std::size_t>(k) * plane + i] =
          view[static_cast<std::size_t>(rgb.band[k]) * plane + i];
  }
  kernels::reference::stretch(im, scale, c.stretch_m, c.stretch_q);
  // Clipped on both sides, in 64 bits: a tile partly (or wholly) off the canvas writes nothing
  // outside it.
  const std::int64_t th = std::int64_t{h} * zoom, tw = std::int64_t{w} * zoom;
  const std::int64_t ya = std::max<std::int64_t>(0, -std::int64_t{y0}),
                     yb = std::min<std::int64_t>(th, std::int64_t{h_} - y0);
  const std::int64_t xa = std::max<std::int64_t>(0, -std::int64_t{x0}),
                     xb = std::min<std::int64_t>(tw, std::int64_t{w_} - x0);
  for (std::int64_t y = ya; y < yb; ++y)
    for (std::int64_t x = xa; x < xb; ++x)
      for (int k = 0; k < 3; ++k)
        px_[(static_cast<std::size_t>(y0 + y) * w_ + static_cast<std::size_t>(x0 + x)) * 3 + k] =
            static_cast<unsigned char>(std::lround(
                255.0f * im.at(k, static_cast<int>(y / zoom), static_cast<int>(x / zoom))));
}

void rgb_canvas::fill(int x0, int y0, int w, int h, const unsigned char rgb[3]) {
  for (int y = std::max(0, y0); y < std::min(h_, y0 + h); ++y)
    for (int x = std::max(0, x0); x < std::min(w_, x0 + w); ++x)
      for (int k = 0; k < 3; ++k) px_[(static_cast<std::size_t>(y) * w_ + x) * 3 + k] = rgb[k];
}

namespace {

void append_bytes(png_structp png, png_bytep data, png_size_t n) {
  static_cast<std::string*>(png_get_io_ptr(png))->append(reinterpret_cast<const char*>(data), n);
}

void flush_nothing(png_structp) {}

}  // namespace

std::string rgb_canvas::png() const {
  std::string out;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (!info) throw error("libpng init failed");
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    throw error("libpng failed encoding a PNG");
  }
  png_set_write_fn(png, &out, &append_bytes, &flush_nothing);
  png_set_IHDR(png, info, w_, h_, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < h_; ++y)
    png_write_row(png, const_cast<png_bytep>(&px_[static_cast<std::size_t>(y) * w_ * 3]));
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return out;
}

void rgb_canvas::write_png(const std::filesystem::path& path) const {
  const std::string bytes = png();
  atomic_output out(path);  // the PNG appears whole or not at all; every write is checked
  out.write(bytes);
  out.commit();
}

}  // namespace skyssl::tiles
