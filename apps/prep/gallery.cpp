// skyssl-prep gallery: a PNG of galaxies from an archive, each row the validation view (centre
// crop) followed by augmented views, in the arcsinh RGB stretch, so that a user can see what the
// model is trained on.
#include <fmt/format.h>
#include <png.h>
#include <torch/types.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "apps/common/config_flags.hpp"
#include "apps/prep/commands.hpp"
#include "kernels/augment.hpp"
#include "kernels/reference.hpp"
#include "skyssl/core/config.hpp"
#include "skyssl/core/error.hpp"
#include "skyssl/core/log.hpp"
#include "skyssl/data/archive.hpp"

namespace skyssl::prep {

namespace {

struct gallery_args {
  std::vector<std::string> archive;
  std::string out = "gallery.png";
  train::config_sources sources;
  int count = 8;
  int views = 4;
  std::int64_t first = 0;
  std::uint64_t seed = 0;
  int zoom = 0;  // 0 = automatic (tiles at least 96 px)
};

// Display bands: the three shown as (R, G, B) plus the scale each gets in the stretch.
struct rgb_choice {
  int band[3];  // indices into the config's bands for R, G, B
};

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

// (C, h, w) float view -> RGB bytes of one tile, zoomed, written into the canvas.
void paint(std::vector<unsigned char>& canvas, int canvas_w, int x0, int y0, const float* view,
           int h, int w, const kernels::augment_config& c, const rgb_choice& rgb, int zoom) {
  kernels::reference::image im(3, h, w);
  float scale[3];
  for (int k = 0; k < 3; ++k) {
    scale[k] = c.stretch_scale[rgb.band[k]];
    for (int i = 0; i < h * w; ++i)
      im.px[static_cast<std::size_t>(k) * h * w + i] =
          view[static_cast<std::size_t>(rgb.band[k]) * h * w + i];
  }
  kernels::reference::stretch(im, scale, c.stretch_m, c.stretch_q);
  for (int y = 0; y < h * zoom; ++y)
    for (int x = 0; x < w * zoom; ++x)
      for (int k = 0; k < 3; ++k)
        canvas[(static_cast<std::size_t>(y0 + y) * canvas_w + x0 + x) * 3 + k] =
            static_cast<unsigned char>(std::lround(255.0f * im.at(k, y / zoom, x / zoom)));
}

void write_png(const std::string& path, int w, int h, const std::vector<unsigned char>& rgb) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "wb"), &std::fclose);
  if (!f) throw error("gallery: cannot write " + path);
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (!info) throw error("gallery: libpng init failed for " + path);
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    throw error("gallery: libpng failed writing " + path);
  }
  png_init_io(png, f.get());
  png_set_IHDR(png, info, w, h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < h; ++y)
    png_write_row(png, const_cast<png_bytep>(&rgb[static_cast<std::size_t>(y) * w * 3]));
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
}

void run_gallery(const gallery_args& a) {
  config cfg_doc = train::resolve_config(a.sources);
  auto d = data::parse_data_options(cfg_doc, "data");
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
  const int cw = cols * w * zoom + (cols + 1) * gap,
            ch = static_cast<int>(n) * (h * zoom + gap) + gap;
  std::vector<unsigned char> canvas(static_cast<std::size_t>(cw) * ch * 3, 40);
  const auto rgb = choose_rgb(c);
  for (std::int64_t i = 0; i < n; ++i)
    for (int k = 0; k < cols; ++k) {
      auto t = tiles[k][i].contiguous();
      paint(canvas, cw, gap + k * (w * zoom + gap), gap + static_cast<int>(i) * (h * zoom + gap),
            t.data_ptr<float>(), h, w, c, rgb, zoom);
    }
  write_png(a.out, cw, ch, canvas);
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
  app.add_option("--zoom", a->zoom, "pixel zoom (0 = automatic)");
  apps::add_config_flags(app, a->sources);
  return [a] {
    kernels::kokkos_scope kokkos;
    run_gallery(*a);
  };
}

}  // namespace skyssl::prep
