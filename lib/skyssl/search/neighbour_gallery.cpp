#include "skyssl/search/neighbour_gallery.hpp"

#include <fmt/format.h>
#include <torch/types.h>

#include <algorithm>

#include "kernels/augment.hpp"
#include "skyssl/core/config.hpp"
#include "skyssl/core/error.hpp"
#include "skyssl/data/archive.hpp"
#include "skyssl/tiles/rgb_tiles.hpp"

namespace skyssl::search {

kernels::augment_config display_config(const data::archive& ar,
                                       const std::filesystem::path& run_dir) {
  config cfg = run_dir.empty() ? config::from_string("", "gallery defaults")
                               : config::from_file(run_dir / "config.toml");
  if (!cfg.has("augment.preset"))
    cfg.apply_override(std::string("augment.preset=\"") +
                       (ar.survey() == "sdss" || ar.channels() == 5 ? "sdss" : "decals") + "\"");
  cfg.apply_override("augment.input_size=0");
  auto c = kernels::augment_config_from(cfg, "augment");
  if (c.bands != ar.channels())
    throw config_error(fmt::format("gallery: the archive has {} bands, the display config {} ({})",
                                   ar.channels(), c.bands, c.band_names));
  c.crop_h = std::min(c.crop_h, ar.height());
  c.crop_w = std::min(c.crop_w, ar.width());
  c.stretch = false;
  return c;
}

std::string tile_png(const torch::Tensor& image, const kernels::augment_config& display, int zoom) {
  const auto crop = kernels::center_crop(display, image.unsqueeze(0).contiguous())[0].contiguous();
  const int h = display.crop_h, w = display.crop_w;
  tiles::rgb_canvas canvas(w * zoom, h * zoom);
  canvas.paint(0, 0, crop.data_ptr<float>(), h, w, display, tiles::choose_rgb(display), zoom);
  return canvas.png();
}

void write_neighbour_gallery(const gallery_request& g, const query_set& q, const neighbours& nn,
                             std::int64_t embedding_rows) {
  data::archive_options ao;
  ao.paths = g.archive;
  const data::archive ar(ao);
  if (ar.size() != embedding_rows)
    throw data_error(fmt::format(
        "--archive has {} rows, the embedding file {}: pass the archive it was embedded from",
        ar.size(), embedding_rows));
  const auto c = display_config(ar, g.run_dir);
  const int h = c.crop_h, w = c.crop_w;
  if (g.zoom < 0 || g.zoom > tiles::max_gallery_zoom)
    throw config_error(fmt::format("gallery zoom must be 0 (automatic) to {}, got {}",
                                   tiles::max_gallery_zoom, g.zoom));
  const int zoom = g.zoom > 0 ? g.zoom : std::max(1, (96 + h - 1) / h);
  // Sizes in 64 bits: the canvas checks them before anything is allocated, after which every
  // tile position below fits in an int.
  const std::int64_t gap = 6, cols = static_cast<std::int64_t>(nn.k) + 1,
                     n_rows = static_cast<std::int64_t>(q.size());
  const std::int64_t tw64 = std::int64_t{w} * zoom, th64 = std::int64_t{h} * zoom;
  tiles::rgb_canvas canvas(cols * tw64 + (cols + 1) * gap, n_rows * (th64 + gap) + gap);
  const int tw = static_cast<int>(tw64), th = static_cast<int>(th64),
            rows = static_cast<int>(n_rows);
  const auto rgb = tiles::choose_rgb(c);
  const unsigned char frame[3] = {255, 200, 0};
  auto tile = [&](const torch::Tensor& image, int col, int row) {
    auto crop = kernels::center_crop(c, image.unsqueeze(0).contiguous())[0].contiguous();
    canvas.paint(gap + col * (tw + gap), gap + row * (th + gap), crop.data_ptr<float>(), h, w, c,
                 rgb, zoom);
  };
  auto archive_image = [&](std::int64_t row) {
    auto im = torch::empty({1, ar.channels(), ar.height(), ar.width()});
    ar.read_images(row, 1, im.data_ptr<float>());
    return im[0];
  };
  std::int64_t cutout = 0;
  for (int i = 0; i < rows; ++i) {
    const int y = gap + i * (th + gap);
    canvas.fill(gap - 3, y - 3, tw + 6, th + 6, frame);
    const auto query =
        q.rows[i] >= 0 ? archive_image(q.rows[i]) : q.cutouts[cutout++].to(torch::kFloat32);
    if (query.size(0) != ar.channels())
      throw data_error(fmt::format("gallery: the cutout has {} bands, the archive {}",
                                   query.size(0), ar.channels()));
    tile(query, 0, i);
    for (int j = 0; j < nn.k; ++j)
      if (const auto row = nn.ids[i * nn.k + j]; row >= 0) tile(archive_image(row), j + 1, i);
  }
  canvas.write_png(g.out);
}

}  // namespace skyssl::search
