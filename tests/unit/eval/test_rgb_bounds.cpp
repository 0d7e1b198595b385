// Gallery canvases (issue #19): sizes from counts and zooms are computed in 64 bits and
// checked before allocation; a tile at a negative or past-the-edge offset is clipped on every
// side instead of writing outside the pixel buffer.
#include "tests/support/torch_doctest.hpp"

#include <vector>

#include "kernels/augment_config.hpp"
#include "skyssl/core/error.hpp"
#include "skyssl/tiles/rgb_tiles.hpp"

using namespace skyssl;

TEST_CASE("rgb_canvas: sizes out of range are data_error, not an allocation or a wrap") {
  // 100000 queries x (96 px + gap) overflowed int before; 2^40 pixels would be 3 TB.
  CHECK_THROWS_WITH_AS(tiles::rgb_canvas(1000, std::int64_t{100000} * 30000),
                       doctest::Contains("out of range"), data_error);
  CHECK_THROWS_AS(tiles::rgb_canvas(1 << 20, 1 << 20), data_error);
  CHECK_THROWS_AS(tiles::rgb_canvas(0, 10), data_error);
  CHECK_THROWS_AS(tiles::rgb_canvas(-5, 10), data_error);
  CHECK_THROWS_AS(tiles::rgb_canvas(60000, 60000), data_error);  // sides fine, area not
  CHECK(tiles::rgb_canvas(640, 480).width() == 640);
}

TEST_CASE("rgb_canvas: tiles are clipped on every side") {
  kernels::augment_config c;
  const auto rgb = tiles::choose_rgb(c);
  std::vector<float> view(3 * 4 * 4, 1.0f);
  tiles::rgb_canvas canvas(6, 6, 7);
  // Negative offsets (the old upper-bound-only check let these write before the buffer) and
  // tiles hanging past the right and bottom edges, or wholly outside.
  for (const auto& [x, y] : std::vector<std::pair<int, int>>{
           {-3, -3}, {-100, 2}, {4, 4}, {5, -2}, {1000, 1000}, {-2147483647, -2147483647}})
    canvas.paint(x, y, view.data(), 4, 4, c, rgb, 2);
  const auto dir = std::filesystem::temp_directory_path();
  canvas.write_png(dir / "skyssl_rgb_bounds.png");
  CHECK(std::filesystem::file_size(dir / "skyssl_rgb_bounds.png") > 0);
  std::filesystem::remove(dir / "skyssl_rgb_bounds.png");
}
