#pragma once
// A small synthetic DECaLS-like archive for tests that train or read through the pipeline:
// `count` galaxies of 3 x size x size drawn by data::synth with `seed`, the ebv and
// psfsize_<band> fields the augmentations read. Overwrites `path`.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "skyssl/data/synth.hpp"
#include "skyssl/data/writer.hpp"

namespace skyssl::test {

inline void write_synth_survey(const std::filesystem::path& path, std::uint64_t seed,
                               std::int64_t count, int size) {
  std::filesystem::remove(path);
  data::synth_options so;
  so.seed = seed;
  so.size = size;
  data::writer_options o;
  o.path = path.string();
  o.count = count;
  o.channels = 3;
  o.height = o.width = size;
  o.bands = so.bands;
  o.pixel_scale = so.pixel_scale;
  o.survey = "decals";
  o.fields = {{"ebv", data::field_type::f32}};
  for (const auto& b : o.bands) o.fields.push_back({"psfsize_" + b, data::field_type::f32});
  data::archive_writer w(o);
  const std::int64_t pixels = 3LL * size * size;
  std::vector<float> img(static_cast<std::size_t>(count * pixels)), scratch;
  std::vector<float> ebv(static_cast<std::size_t>(count)), psf[3];
  for (std::int64_t i = 0; i < count; ++i) {
    const auto g = data::draw_galaxy(so, i);
    data::render_galaxy(so, g, img.data() + i * pixels, scratch);
    ebv[static_cast<std::size_t>(i)] = g.ebv;
    for (int c = 0; c < 3; ++c) psf[c].push_back(g.psf_fwhm[static_cast<std::size_t>(c)]);
  }
  w.write_images(0, count, img.data());
  w.write_field("ebv", 0, count, ebv.data());
  for (int c = 0; c < 3; ++c) w.write_field("psfsize_" + o.bands[c], 0, count, psf[c].data());
  w.close();
}

}  // namespace skyssl::test
