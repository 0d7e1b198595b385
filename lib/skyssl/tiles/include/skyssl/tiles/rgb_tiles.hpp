#pragma once
// Galaxy tiles as a PNG in the arcsinh RGB stretch (kernels::reference::stretch with the
// augment config's per-band scales, m and Q): the display of skyssl-prep gallery and of
// skyssl-search's neighbour gallery, so a galaxy looks the same in both.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "kernels/augment_config.hpp"

namespace skyssl::tiles {

// The largest pixel zoom of a gallery tile: a zoom beyond it only makes the PNG bigger.
constexpr int max_gallery_zoom = 64;

// The three bands shown as (R, G, B): z r g (DECaLS) or i r g (SDSS) by name, else the first
// three (or the only one, repeated).
struct rgb_choice {
  int band[3];
};
rgb_choice choose_rgb(const kernels::augment_config& c);

class rgb_canvas {
 public:
  // Sizes are taken in 64 bits (callers compute them from counts, zooms and tile sizes) and
  // checked: each side 1..max_side, at most max_pixels in all; data_error otherwise.
  static constexpr std::int64_t max_side = 65535;
  static constexpr std::int64_t max_pixels = std::int64_t{1} << 28;
  rgb_canvas(std::int64_t width, std::int64_t height, unsigned char background = 40);
  int width() const { return w_; }
  int height() const { return h_; }
  // One (C, h, w) float view, stretched and zoomed, with its top-left corner at (x0, y0);
  // what falls outside the canvas (on any side) is clipped.
  void paint(int x0, int y0, const float* view, int h, int w, const kernels::augment_config& c,
             const rgb_choice& rgb, int zoom);
  // A filled rectangle (frames, markers).
  void fill(int x0, int y0, int w, int h, const unsigned char rgb[3]);
  // The canvas as an 8-bit RGB PNG file's bytes.
  std::string png() const;
  // The same written to `path`; error naming the path when it cannot be written.
  void write_png(const std::filesystem::path& path) const;

 private:
  int w_, h_;
  std::vector<unsigned char> px_;
};

}  // namespace skyssl::tiles
