// skyssl-prep gallery: a PNG of galaxies from an archive, each row the validation view (centre
// crop) followed by augmented views, in the arcsinh RGB stretch, so that a user can see what the
// model is trained on.
#include <fmt/format.h>
#include <torch/types.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "apps/common/config_flags.hpp"
#include "apps/prep/commands.hpp"
#include "kernels/augment.hpp"
#include "skyssl/core/config.hpp"
#include "skyssl/core/error.hpp"
#include "skyssl/core/log.hpp"
#include "skyssl/data/archive.hpp"
#include "skyssl/tiles/rgb_tiles.hpp"

namespace skyssl::prep {

namespace {

struct gallery_args {
  std::vector<std::string> archive;
  std::string out = "gallery.png";
  config_sources sources;
  int count = 8;
  int views = 4;
  std::int64_t first = 0;
  std::uint64_t seed = 0;
  int zoom = 0;  // 0 = automatic (tiles at least 96 px)
};

void run_gallery(const gallery_args& a) {
  config cfg_doc = resolve_config(a.sources);
  auto d = data::data_options_from(cfg_doc, "data");
  if (!a.archive.empty()) d.archive.paths = a.archive;
  if (d.archive.paths.empty())
    throw config_error("gallery: no archive: pass --archive, or set data.path");
  data::archive ar(d.archive);
  if (!cfg_doc.has("augment.preset"))
    cfg_doc.apply_override(std::string("augment.preset=\"") +
                           (ar.survey() == "sdss" || ar.channels() == 5 ? "sdss" : "decals") +
                           "\"");
  if (!cfg_doc.has("augment.input_size")) cfg_doc.apply_override("augment.input_size=0");
  const auto c = kernels::augment_config_from(cfg_doc, "augment");
  cfg_doc.reject_unread({"data", "augment"});
  if (ar.channels() != c.bands)
    throw config_error(fmt::format("gallery: archive has {} channels, augment config has {} ({})",
                                   ar.channels(), c.bands, c.band_names));
  const std::int64_t n = std::min<std::int64_t>(a.count, ar.size() - a.first);
  if (n <= 0)
    throw error(fmt::format("gallery: archive has {} rows, --first {}", ar.size(), a.first));
  const int C = ar.channels(), H = ar.height(), W = ar.width();

  auto images = torch::empty({n, C, H, W}, torch::kFloat32);
  ar.read_images(a.first, n, images.data_ptr<float>());
  auto ids = torch::arange(a.first, a.first + n, torch::kInt64);
  auto ebv = torch::zeros({n}, torch::kFloat32);
  auto psf = torch::full({n, C}, NAN, torch::kFloat32);
  std::vector<double> col(n);
  if (auto d = ar.field_dataset("ebv"); !d.empty()) {
    ar.read_column(d, a.first, n, col.data());
    for (std::int64_t i = 0; i < n; ++i) ebv[i] = static_cast<float>(col[i]);
  }
  for (int b = 0; b < C; ++b)
    if (auto d = ar.field_dataset(std::string("psfsize_") + c.band_names[b]); !d.empty()) {
      ar.read_column(d, a.first, n, col.data());
      for (std::int64_t i = 0; i < n; ++i) psf[i][b] = static_cast<float>(col[i]);
    }

  // Views as the trainer sees them, but unstretched: the display stretch below is applied to
  // the chosen three bands of every tile alike (for DECaLS it is the training stretch itself).
  auto raw = c;
  raw.stretch = false;
  std::vector<torch::Tensor> tiles{kernels::center_crop(raw, images)};
  for (int e = 0; static_cast<int>(tiles.size()) < a.views + 1; ++e) {
    auto v = kernels::augment_two_views(raw, images, ids, ebv, psf, a.seed, e);
    tiles.push_back(v.view1);
    if (static_cast<int>(tiles.size()) < a.views + 1) tiles.push_back(v.view2);
  }
  const int h = c.crop_h, w = c.crop_w;
  const int zoom = a.zoom > 0 ? a.zoom : std::max(1, (96 + h - 1) / h);
  const int gap = 4, cols = a.views + 1;
  // In 64 bits, checked by the canvas before it allocates; positions below then fit an int.
  tiles::rgb_canvas canvas(std::int64_t{cols} * w * zoom + (cols + 1) * gap,
                          n * (std::int64_t{h} * zoom + gap) + gap);
  const auto rgb = tiles::choose_rgb(c);
  for (std::int64_t i = 0; i < n; ++i)
    for (int k = 0; k < cols; ++k) {
      auto t = tiles[k][i].contiguous();
      canvas.paint(gap + k * (w * zoom + gap), gap + static_cast<int>(i) * (h * zoom + gap),
                   t.data_ptr<float>(), h, w, c, rgb, zoom);
    }
  canvas.write_png(a.out);
  log::info("gallery: {} galaxies x (centre crop + {} views), bands {} as RGB {}{}{}, {}", n,
            a.views, c.band_names, c.band_names[rgb.band[0]], c.band_names[rgb.band[1]],
            c.band_names[rgb.band[2]], a.out);
}

}  // namespace

command add_gallery(CLI::App& app) {
  auto a = std::make_shared<gallery_args>();
  app.add_option("--archive", a->archive, "archive file(s), glob or @list (default: data.path)");
  app.add_option("--out", a->out, "PNG to write");
  app.add_option("--count", a->count, "galaxies (rows)")->check(CLI::Range(1, 1000));
  app.add_option("--views", a->views, "augmented views per galaxy")->check(CLI::Range(1, 64));
  app.add_option("--first", a->first, "first archive row");
  app.add_option("--seed", a->seed, "augmentation seed");
  app.add_option("--zoom", a->zoom, "pixel zoom (0 = automatic)")
      ->check(CLI::Range(0, tiles::max_gallery_zoom));
  apps::add_config_flags(app, a->sources);
  return [a] {
    kernels::kokkos_scope kokkos;
    run_gallery(*a);
  };
}

}  // namespace skyssl::prep
