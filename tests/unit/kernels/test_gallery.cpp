// skyssl-prep gallery end to end: 3 synthetic galaxies x (centre crop + 3 views), decoded with
// libpng and checked for content, not only size: 4 px gaps of the background grey around 96 px
// tiles, every tile an image (not blank or flat), a galaxy at the centre of each centre crop,
// views that differ from their crop, and galaxies that differ from each other.
#include <doctest/doctest.h>
#include <png.h>

#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "tests/support/run_command.hpp"
#include "tests/support/test_paths.hpp"

namespace {

struct rgb_image {
  int w = 0, h = 0;
  std::vector<unsigned char> px;  // RGB, row-major
  double at(int x, int y, int c) const { return px[(static_cast<std::size_t>(y) * w + x) * 3 + c]; }
};

rgb_image read_png(const std::string& path) {
  png_image im{};
  im.version = PNG_IMAGE_VERSION;
  REQUIRE_MESSAGE(png_image_begin_read_from_file(&im, path.c_str()), im.message);
  im.format = PNG_FORMAT_RGB;
  rgb_image out;
  out.w = static_cast<int>(im.width);
  out.h = static_cast<int>(im.height);
  out.px.resize(PNG_IMAGE_SIZE(im));
  REQUIRE_MESSAGE(png_image_finish_read(&im, nullptr, out.px.data(), 0, nullptr), im.message);
  return out;
}

constexpr int tile = 96, gap = 4, background = 40;

struct stats {
  double mean = 0, sd = 0;
};

// Brightness (mean of R, G, B) over [x0, x0 + n) x [y0, y0 + n).
stats region(const rgb_image& im, int x0, int y0, int n) {
  double s = 0, s2 = 0;
  for (int y = y0; y < y0 + n; ++y)
    for (int x = x0; x < x0 + n; ++x) {
      const double v = (im.at(x, y, 0) + im.at(x, y, 1) + im.at(x, y, 2)) / 3;
      s += v;
      s2 += v * v;
    }
  const double m = s / (n * n);
  return {m, std::sqrt(std::max(s2 / (n * n) - m * m, 0.0))};
}

double mean_abs_diff(const rgb_image& im, int xa, int ya, int xb, int yb) {
  double d = 0;
  for (int y = 0; y < tile; ++y)
    for (int x = 0; x < tile; ++x)
      for (int c = 0; c < 3; ++c)
        d += std::fabs(im.at(xa + x, ya + y, c) - im.at(xb + x, yb + y, c));
  return d / (tile * tile * 3);
}

int origin(int k) { return gap + k * (tile + gap); }

}  // namespace

TEST_CASE("gallery PNG: tiles with galaxies in them, on the background grid") {
  const auto dir = skyssl::test::tmp_dir("kernels-gallery");
  const std::string prep = skyssl::test::program("skyssl-prep"), a = (dir / "a.h5").string(),
                    png = (dir / "g.png").string();
  const auto synth =
      skyssl::test::run_command(prep + " synth --out " + a + " --count 3 --size 152");
  REQUIRE_MESSAGE(synth.status == 0, synth.output);
  const auto gallery = skyssl::test::run_command(prep + " gallery --archive " + a + " --out " +
                                                 png + " --count 3 --views 3");
  REQUIRE_MESSAGE(gallery.status == 0, gallery.output);
  const auto im = read_png(png);
  REQUIRE(im.w == 4 * tile + 5 * gap);  // 404
  REQUIRE(im.h == 3 * tile + 4 * gap);  // 304
  // The gaps: the left margin and the band between rows 0 and 1 are pure background.
  for (int y = 0; y < im.h; ++y)
    for (int x = 0; x < gap; ++x) CHECK(im.at(x, y, 1) == background);
  for (int x = 0; x < im.w; ++x) CHECK(im.at(x, origin(1) - 1, 0) == background);
  for (int row = 0; row < 3; ++row) {
    CAPTURE(row);
    for (int col = 0; col < 4; ++col) {
      CAPTURE(col);
      const auto s = region(im, origin(col), origin(row), tile);
      CHECK(s.sd > 5);  // an image, not a flat fill
    }
    // The centre crop holds a galaxy at its centre: brighter than the tile's corner.
    const auto centre = region(im, origin(0) + 36, origin(row) + 36, 24);
    const auto corner = region(im, origin(0), origin(row), 16);
    CHECK(centre.mean > corner.mean + 20);
    // Augmented views are not copies of the crop.
    for (int col = 1; col < 4; ++col)
      CHECK(mean_abs_diff(im, origin(0), origin(row), origin(col), origin(row)) > 2);
  }
  // Three galaxies, three different crops.
  CHECK(mean_abs_diff(im, origin(0), origin(0), origin(0), origin(1)) > 2);
  CHECK(mean_abs_diff(im, origin(0), origin(1), origin(0), origin(2)) > 2);
}
