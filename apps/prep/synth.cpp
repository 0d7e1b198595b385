// skyssl-prep synth: a synthetic survey, rendered in parallel and written as one archive with
// collective parallel HDF5. Rank r renders galaxies [r*N/R, (r+1)*N/R), a chunk at a time, so
// memory stays at one chunk; every galaxy is a pure function of (seed, id), so the file is
// byte-identical for any number of ranks.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>

#include "apps/prep/commands.hpp"
#include "skyssl/core/error.hpp"
#include "skyssl/core/log.hpp"
#include "skyssl/core/surveys.hpp"
#include "skyssl/data/archive.hpp"
#include "skyssl/data/synth.hpp"
#include "skyssl/data/writer.hpp"

namespace skyssl::prep {

namespace {

struct synth_args {
  std::string out;
  std::int64_t count = 0;
  int size = 152;
  std::uint64_t seed = 0;
  std::string bands;
  int channels = 0;
  double pixel_scale = surveys::decals.pixel_scale;
  int chunk = 32;
};

std::vector<std::string> default_bands(int channels) {
  switch (channels) {
    case 1:
      return {"r"};
    case 2:
      return {"g", "r"};
    case 3:
      return {"g", "r", "z"};
    case 4:
      return {"g", "r", "i", "z"};
    case 5:
      return {"u", "g", "r", "i", "z"};
    default:
      throw config_error(fmt::format("synth: --channels must be 1-5, got {}", channels));
  }
}

void run_synth(const synth_args& a) {
  const int rank = log::rank(), world = log::world();
  if (a.count < 1) throw config_error(fmt::format("synth: --count must be >= 1, got {}", a.count));
  if (a.size < 8) throw config_error(fmt::format("synth: --size must be >= 8, got {}", a.size));
  if (a.chunk < 1) throw config_error(fmt::format("synth: --chunk must be >= 1, got {}", a.chunk));
  data::synth_options so;
  so.seed = a.seed;
  so.size = a.size;
  so.pixel_scale = a.pixel_scale;
  so.bands =
      !a.bands.empty() ? data::split_bands(a.bands) : default_bands(a.channels ? a.channels : 3);
  if (a.channels && static_cast<int>(so.bands.size()) != a.channels)
    throw config_error(fmt::format("synth: --bands has {} bands but --channels is {}",
                                   so.bands.size(), a.channels));
  for (const auto& b : so.bands) data::extinction_coefficient(b);  // validates the band names
  const int C = static_cast<int>(so.bands.size());

  data::writer_options wo;
  wo.path = a.out;
  wo.count = a.count;
  wo.channels = C;
  wo.height = wo.width = a.size;
  wo.bands = so.bands;
  wo.pixel_scale = a.pixel_scale;
  wo.survey = "synthetic";
  wo.collective = true;
  using data::field_type;
  wo.fields = {{"objid", field_type::i64},      {"ra", field_type::f64},
               {"dec", field_type::f64},        {"ebv", field_type::f32},
               {"z_spec", field_type::f32},     {"morphology", field_type::i32},
               {"mag_r", field_type::f32},      {"r_half", field_type::f32},
               {"ba", field_type::f32},         {"pa", field_type::f32},
               {"bulge_frac", field_type::f32}, {"n_arms", field_type::i32},
               {"n_clumps", field_type::i32}};
  for (const auto& b : so.bands) {
    wo.fields.push_back({"psfsize_" + b, field_type::f32});
    wo.fields.push_back({"flux_" + b, field_type::f32});
    wo.fields.push_back({"sky_sigma_" + b, field_type::f32});
  }
  data::archive_writer writer(wo);

  const std::int64_t lo = a.count * rank / world, hi = a.count * (rank + 1) / world;
  const std::int64_t max_local = (a.count + world - 1) / world;
  const std::int64_t chunks = (max_local + a.chunk - 1) / a.chunk;
  const std::size_t per = static_cast<std::size_t>(C) * a.size * a.size;
  std::vector<float> images(per * static_cast<std::size_t>(a.chunk));
  std::vector<float> scratch;
  log::info("synth: {} galaxies {}x{}x{} (bands {}) on {} rank(s) -> {} ({:.2f} GB)", a.count, C,
            a.size, a.size, fmt::join(so.bands, ""), world, a.out,
            static_cast<double>(per) * 4.0 * static_cast<double>(a.count) / 1e9);
  const auto t0 = std::chrono::steady_clock::now();
  double last_print = 0;
  for (std::int64_t ci = 0; ci < chunks; ++ci) {
    const std::int64_t start = std::min(hi, lo + ci * a.chunk);
    const std::int64_t n = std::min<std::int64_t>(a.chunk, hi - start);
    std::vector<data::galaxy> gs;
    for (std::int64_t k = 0; k < n; ++k) {
      gs.push_back(data::draw_galaxy(so, start + k));
      data::render_galaxy(so, gs.back(), images.data() + static_cast<std::size_t>(k) * per,
                          scratch);
    }
    writer.write_images(start, n, images.data());
    auto put = [&](const std::string& name, auto get) {
      using T = decltype(get(gs.front()));
      std::vector<T> v;
      for (const auto& g : gs) v.push_back(get(g));
      // A rank with no galaxies left still joins the collective write, with count 0.
      writer.write_field(name, start, n, v.data());
    };
    put("objid", [](const data::galaxy& g) { return static_cast<std::int64_t>(g.id); });
    put("ra", [](const data::galaxy& g) { return g.ra; });
    put("dec", [](const data::galaxy& g) { return g.dec; });
    put("ebv", [](const data::galaxy& g) { return g.ebv; });
    put("z_spec", [](const data::galaxy& g) { return g.z_spec; });
    put("morphology",
        [](const data::galaxy& g) { return static_cast<std::int32_t>(g.morphology); });
    put("mag_r", [](const data::galaxy& g) { return g.mag_r; });
    put("r_half", [](const data::galaxy& g) { return g.r_half; });
    put("ba", [](const data::galaxy& g) { return g.ba; });
    put("pa", [](const data::galaxy& g) { return g.pa; });
    put("bulge_frac", [](const data::galaxy& g) { return g.bulge_frac; });
    put("n_arms", [](const data::galaxy& g) { return static_cast<std::int32_t>(g.arms); });
    put("n_clumps", [](const data::galaxy& g) { return static_cast<std::int32_t>(g.clumps); });
    for (std::size_t b = 0; b < so.bands.size(); ++b) {
      const auto& bn = so.bands[b];
      put("psfsize_" + bn,
          [b](const data::galaxy& g) { return g.psf_fwhm.empty() ? 0.0f : g.psf_fwhm[b]; });
      put("flux_" + bn, [b](const data::galaxy& g) { return g.flux.empty() ? 0.0f : g.flux[b]; });
      put("sky_sigma_" + bn,
          [b](const data::galaxy& g) { return g.sky_sigma.empty() ? 0.0f : g.sky_sigma[b]; });
    }
    const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (rank == 0 && (t - last_print > 5.0 || ci + 1 == chunks)) {
      last_print = t;
      // Every rank advances in lockstep (collective writes), so rank 0's share scales.
      const std::int64_t done = std::min(a.count, (start + n - lo) * world);
      log::info("synth: {:>8}/{} galaxies  {:7.1f} s  {:8.1f} galaxies/s", done, a.count, t,
                static_cast<double>(done) / std::max(t, 1e-9));
    }
  }
  writer.close();
  const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  log::info("synth: wrote {} galaxies to {} in {:.1f} s ({:.1f} galaxies/s)", a.count, a.out, t,
            static_cast<double>(a.count) / std::max(t, 1e-9));
}

}  // namespace

command add_synth(CLI::App& app) {
  auto a = std::make_shared<synth_args>();
  app.add_option("--out", a->out, "output archive (.h5)")->required();
  app.add_option("--count", a->count, "number of galaxies")->required();
  app.add_option("--size", a->size, "image height = width in pixels")->capture_default_str();
  app.add_option("--seed", a->seed, "random seed")->capture_default_str();
  app.add_option("--bands", a->bands, "bands, e.g. 'g,r,z' or 'ugriz' (default g r z)");
  app.add_option("--channels", a->channels, "number of bands (1-5) when --bands is not given");
  app.add_option("--pixel-scale", a->pixel_scale, "arcsec per pixel")->capture_default_str();
  app.add_option("--chunk", a->chunk, "galaxies per rank per collective write")
      ->capture_default_str();
  return [a] { run_synth(*a); };
}

}  // namespace skyssl::prep
