// augment_config from a skyssl::config section: preset first, then one key per field.
#include <cstring>

#include "kernels/augment_config.hpp"
#include "kernels/augment_threads.hpp"
#include "skyssl/core/config.hpp"
#include "skyssl/core/error.hpp"

namespace skyssl::kernels {

namespace {

struct reader {
  const config& c;
  std::string prefix;
  std::string key(const char* k) const { return prefix + k; }
  void flag(const char* k, bool& v) const { v = c.get_bool(key(k), v); }
  void number(const char* k, float& v) const { v = static_cast<float>(c.get_double(key(k), v)); }
  void integer(const char* k, int& v) const { v = static_cast<int>(c.get_int(key(k), v)); }
  void pair(const char* k, float& lo, float& hi) const {
    const auto v = c.get_doubles(key(k), {lo, hi});
    if (v.size() != 2)
      throw config_error(key(k) + ": expected [min, max], got " + std::to_string(v.size()) +
                         " values");
    lo = static_cast<float>(v[0]);
    hi = static_cast<float>(v[1]);
  }
  void bands(const char* k, float* v, int n) const {
    const auto d = c.get_doubles(key(k), std::vector<double>(v, v + n));
    if (static_cast<int>(d.size()) != n)
      throw config_error(key(k) + ": expected one value per band (" + std::to_string(n) +
                         "), got " + std::to_string(d.size()));
    for (int b = 0; b < n; ++b) v[b] = static_cast<float>(d[b]);
  }
};

}  // namespace

augment_config augment_config_from(const config& c, const std::string& section) {
  const std::string p = section.empty() ? "" : section + ".";
  const std::string preset = c.get_string(p + "preset", "decals");
  augment_config a;
  if (preset == "decals")
    a = augment_config::decals();
  else if (preset == "sdss")
    a = augment_config::sdss();
  else
    throw config_error(p + "preset: unknown preset \"" + preset + "\" (decals | sdss)");
  const reader r{c, p};

  const std::string names = c.get_string(p + "bands", a.band_names);
  if (names.empty() || static_cast<int>(names.size()) > max_bands)
    throw config_error(p + "bands: \"" + names + "\" must name 1.." + std::to_string(max_bands) +
                       " bands, one letter each");
  if (static_cast<int>(names.size()) != a.bands && !c.has(p + "extinction"))
    throw config_error(p + "bands: \"" + names + "\" changes the band count of preset " + preset +
                       "; give the per-band keys (extinction, ...) too");
  a.bands = static_cast<int>(names.size());
  std::strncpy(a.band_names, names.c_str(), max_bands);
  a.band_names[a.bands] = '\0';

  r.integer("input_size", a.input_size);
  if (c.has(p + "crop")) {
    int crop = 0;
    r.integer("crop", crop);
    a.crop_h = a.crop_w = crop;
  }
  r.integer("crop_h", a.crop_h);
  r.integer("crop_w", a.crop_w);
  a.pixel_scale = c.get_double(p + "pixel_scale", a.pixel_scale);
  r.flag("reddening", a.reddening);
  r.flag("flips", a.flips);
  r.flag("rotation", a.rotation);
  r.flag("scale", a.scale);
  r.flag("blur", a.blur);
  r.flag("jitter", a.jitter);
  r.flag("noise", a.noise);
  r.flag("stretch", a.stretch);
  r.pair("ebv_range", a.ebv_min, a.ebv_max);
  const std::string draw =
      c.get_string(p + "ebv_draw", a.ebv_from == ebv_draw::lognormal ? "lognormal" : "uniform");
  if (draw == "uniform")
    a.ebv_from = ebv_draw::uniform;
  else if (draw == "lognormal")
    a.ebv_from = ebv_draw::lognormal;
  else
    throw config_error(p + "ebv_draw: unknown value \"" + draw + "\" (uniform | lognormal)");
  {
    const auto v = c.get_doubles(p + "ebv_lognormal",
                                 {a.ebv_lognormal[0], a.ebv_lognormal[1], a.ebv_lognormal[2]});
    if (v.size() != 3)
      throw config_error(p + "ebv_lognormal: expected [shape, loc, scale], got " +
                         std::to_string(v.size()) + " values");
    for (int i = 0; i < 3; ++i) a.ebv_lognormal[i] = static_cast<float>(v[i]);
  }
  r.bands("extinction", a.extinction, a.bands);
  r.number("flip_p", a.flip_p);
  r.pair("angle_range", a.angle_min, a.angle_max);
  r.pair("scale_range", a.scale_min, a.scale_max);
  r.bands("blur_sigma_min", a.blur_sigma_min, a.bands);
  r.bands("blur_sigma_max", a.blur_sigma_max, a.bands);
  r.number("blur_truncate", a.blur_truncate);
  r.number("psf_fwhm_fallback", a.psf_fwhm_fallback);
  r.integer("jitter_max", a.jitter_max);
  r.bands("noise_sigma_min", a.noise_sigma_min, a.bands);
  r.bands("noise_sigma_max", a.noise_sigma_max, a.bands);
  const std::string src = c.get_string(
      p + "noise_source", a.noise_from == noise_source::estimate ? "estimate" : "config");
  if (src == "estimate")
    a.noise_from = noise_source::estimate;
  else if (src == "config")
    a.noise_from = noise_source::config;
  else
    throw config_error(p + "noise_source: unknown value \"" + src + "\" (estimate | config)");
  r.bands("catalogue_noise", a.catalogue_noise, a.bands);
  r.integer("noise_border", a.noise_border);
  r.bands("stretch_scales", a.stretch_scale, a.bands);
  r.number("stretch_m", a.stretch_m);
  r.number("stretch_q", a.stretch_q);
  r.integer("threads", a.threads);
  a.validate();  // threads >= 1
  if (a.threads > usable_cores())
    throw config_error(p + "threads = " + std::to_string(a.threads) + ": more than the " +
                       std::to_string(usable_cores()) +
                       " CPUs this process may run on; set it between 1 and " +
                       std::to_string(usable_cores()) + " (--set " + p + "threads=N)");
  return a;
}

}  // namespace skyssl::kernels
