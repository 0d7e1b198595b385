// Built-in presets and validation of augment_config. No dependency beyond the C++ library and
// core/error.hpp (header only), so the standalone GPU check can compile it with nvcc.
#include <cmath>
#include <cstring>
#include <sstream>

#include "kernels/augment_config.hpp"
#include "skyssl/core/error.hpp"
#include "skyssl/core/surveys.hpp"

namespace skyssl::kernels {

augment_config augment_config::decals() { return augment_config{}; }

augment_config augment_config::sdss() {
  augment_config c;
  c.bands = 5;
  std::strcpy(c.band_names, "ugriz");
  c.input_size = 107;
  c.crop_h = c.crop_w = 64;
  c.pixel_scale = surveys::sdss.pixel_scale;
  // The SDSS study's subset: reddening, flips, rotation, jitter + crop, noise.
  c.scale = c.blur = c.stretch = false;
  // Noise targets: the SDSS study does not publish per-band ranges; these are a placeholder
  // of the same order as the DECaLS ones (override augment.noise_sigma_min/max).
  const float stretch[5] = {1.5f, 2.5f, 1.5f, 1.0f, 0.4f};  // sdss_rgb defaults
  for (int b = 0; b < 5; ++b) {
    c.extinction[b] = surveys::sdss.bands[b].reddening;
    c.noise_sigma_min[b] = 0.001f;
    c.noise_sigma_max[b] = 0.02f;
    c.blur_sigma_min[b] = 1.0f;
    c.blur_sigma_max[b] = 3.0f;
    c.stretch_scale[b] = stretch[b];
  }
  c.stretch_m = 0.02f;
  return c;
}

int augment_config::max_radius() const {
  if (!blur) return 0;
  float s = 0.0f;
  for (int b = 0; b < bands; ++b) s = std::fmax(s, blur_sigma_max[b]);
  s *= scale ? scale_max : 1.0f;
  return static_cast<int>(std::ceil(blur_truncate * s));
}

namespace {
void fail(const std::string& field, const std::string& why) {
  throw config_error("augment." + field + ": " + why);
}
template <class T>
std::string str(T v) {
  std::ostringstream os;
  os << v;
  return os.str();
}
void check_range_pair(const std::string& name, float lo, float hi, float min_lo) {
  if (!(lo >= min_lo) || !(hi >= lo) || !std::isfinite(hi))
    fail(name, "range [" + str(lo) + ", " + str(hi) + "] must satisfy " + str(min_lo) +
                   " <= min <= max < inf");
}
}  // namespace

void augment_config::validate() const {
  if (bands < 1 || bands > max_bands)
    fail("bands", "count " + str(bands) + " outside [1, " + str(max_bands) + "]");
  if (static_cast<int>(std::strlen(band_names)) != bands)
    fail("bands", "names \"" + std::string(band_names) + "\" do not give " + str(bands) + " bands");
  if (crop_h < 1 || crop_w < 1) fail("crop", "size " + str(crop_h) + "x" + str(crop_w));
  if (input_size != 0 && (input_size < crop_h || input_size < crop_w))
    fail("input_size", str(input_size) + " smaller than the crop " + str(crop_h));
  if (!(pixel_scale > 0)) fail("pixel_scale", str(pixel_scale) + " must be > 0");
  check_range_pair("ebv_range", ebv_min, ebv_max, -10.0f);
  if (ebv_from == ebv_draw::lognormal &&
      !(ebv_lognormal[0] > 0 && ebv_lognormal[2] > 0 && std::isfinite(ebv_lognormal[0]) &&
        std::isfinite(ebv_lognormal[1]) && std::isfinite(ebv_lognormal[2])))
    fail("ebv_lognormal", "[" + str(ebv_lognormal[0]) + ", " + str(ebv_lognormal[1]) + ", " +
                              str(ebv_lognormal[2]) + "] needs shape > 0 and scale > 0");
  if (!(flip_p >= 0 && flip_p <= 1)) fail("flip_p", str(flip_p) + " outside [0, 1]");
  check_range_pair("angle_range", angle_min, angle_max, -1e6f);
  check_range_pair("scale_range", scale_min, scale_max, 1e-3f);
  if (jitter_max < 0) fail("jitter_max", str(jitter_max) + " < 0");
  if (!(blur_truncate >= 1 && blur_truncate <= 8))
    fail("blur_truncate", str(blur_truncate) + " outside [1, 8]");
  if (psf_fwhm_fallback < 0) fail("psf_fwhm_fallback", str(psf_fwhm_fallback) + " < 0");
  for (int b = 0; b < bands; ++b) {
    const std::string band = std::string(" (band ") + band_names[b] + ")";
    if (!std::isfinite(extinction[b])) fail("extinction", "not finite" + band);
    check_range_pair("blur_sigma_min/max" + band, blur_sigma_min[b], blur_sigma_max[b], 0.0f);
    check_range_pair("noise_sigma_min/max" + band, noise_sigma_min[b], noise_sigma_max[b], 0.0f);
    if (!(catalogue_noise[b] >= 0)) fail("catalogue_noise", str(catalogue_noise[b]) + band);
    if (!(stretch_scale[b] > 0)) fail("stretch_scales", str(stretch_scale[b]) + band);
  }
  if (threads < 1) fail("threads", str(threads) + " < 1 (1 = augment on the pipeline's thread)");
  if (max_radius() > max_blur_radius)
    fail("blur_sigma_max", "widest kernel needs radius " + str(max_radius()) + " > " +
                               str(max_blur_radius) + " output pixels");
  if (noise_border < 1) fail("noise_border", str(noise_border) + " < 1");
  if (!(stretch_q > 0)) fail("stretch_q", str(stretch_q) + " must be > 0");
}

std::string augment_config::describe() const {
  std::ostringstream os;
  auto arr = [&](const char* name, const float* v) {
    os << name << " = [";
    for (int b = 0; b < bands; ++b) os << (b ? ", " : "") << v[b];
    os << "]\n";
  };
  auto on = [](bool b) { return b ? "true" : "false"; };
  os << "bands = \"" << band_names << "\"\ninput_size = " << input_size << "\ncrop = [" << crop_h
     << ", " << crop_w << "]\npixel_scale = " << pixel_scale << "\nreddening = " << on(reddening)
     << "\nflips = " << on(flips) << "\nrotation = " << on(rotation) << "\nscale = " << on(scale)
     << "\nblur = " << on(blur) << "\njitter = " << on(jitter) << "\nnoise = " << on(noise)
     << "\nstretch = " << on(stretch) << "\nebv_range = [" << ebv_min << ", " << ebv_max << "]\n"
     << "ebv_draw = \"" << (ebv_from == ebv_draw::lognormal ? "lognormal" : "uniform")
     << "\"\nebv_lognormal = [" << ebv_lognormal[0] << ", " << ebv_lognormal[1] << ", "
     << ebv_lognormal[2] << "]\n";
  arr("extinction", extinction);
  os << "flip_p = " << flip_p << "\nangle_range = [" << angle_min << ", " << angle_max
     << "]\nscale_range = [" << scale_min << ", " << scale_max << "]\n";
  arr("blur_sigma_min", blur_sigma_min);
  arr("blur_sigma_max", blur_sigma_max);
  os << "blur_truncate = " << blur_truncate << "\npsf_fwhm_fallback = " << psf_fwhm_fallback
     << "\njitter_max = " << jitter_max << "\n";
  arr("noise_sigma_min", noise_sigma_min);
  arr("noise_sigma_max", noise_sigma_max);
  os << "noise_source = \"" << (noise_from == noise_source::estimate ? "estimate" : "config")
     << "\"\n";
  arr("catalogue_noise", catalogue_noise);
  os << "noise_border = " << noise_border << "\n";
  arr("stretch_scales", stretch_scale);
  os << "stretch_m = " << stretch_m << "\nstretch_q = " << stretch_q << "\nthreads = " << threads
     << "\n";
  return os.str();
}

}  // namespace skyssl::kernels
