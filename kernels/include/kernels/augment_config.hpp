#pragma once
// Parameters of the survey augmentation chain (docs/augmentations.md). A plain, trivially
// copyable struct (fixed-size per-band arrays, no strings or vectors) so that kernels can take
// it by value on any Kokkos backend, CUDA included.
#include <string>

#include "skyssl/core/surveys.hpp"

namespace skyssl {
class config;
}

namespace skyssl::kernels {

inline constexpr int max_bands = 8;
// Largest blur half-width (taps either side) the kernels support.
inline constexpr int max_blur_radius = 64;

// How the new E(B-V) of the reddening step is drawn.
enum class ebv_draw : int {
  uniform = 0,    // U(ebv_min, ebv_max): the DECaLS training script's default
  lognormal = 1,  // the DECaLS code's fit to the real E(B-V) distribution, clamped to the range
};

enum class noise_source : int {
  estimate = 0,  // per-sample sigma-clipped std of a border frame of the input image
  config = 1,    // augment_config::catalogue_noise per band
};

struct augment_config {
  // Bands, as one character each ("grz", "ugriz"); bands = number of channels.
  int bands = 3;
  char band_names[max_bands + 1] = "grz";
  int input_size = 152;  // expected H = W of the input; 0 = accept any size >= crop
  int crop_h = 96;       // output size of each view
  int crop_w = 96;
  double pixel_scale = surveys::decals.pixel_scale;  // arcsec per pixel (PSF FWHM -> pixels)

  // Which steps run.
  bool reddening = true;
  bool flips = true;
  bool rotation = true;
  bool scale = true;
  bool blur = true;
  bool jitter = true;
  bool noise = true;
  bool stretch = true;

  // 1. Reddening: a new E(B-V) replaces the catalogue one, drawn U(ebv_min, ebv_max) or
  // (ebv_from == lognormal) loc + scale * exp(shape * N(0, 1)) clamped to [ebv_min, ebv_max]
  // (scipy.stats.lognorm(shape, loc, scale) as the DECaLS code draws it).
  float ebv_min = 0.0f, ebv_max = 1.0f;
  ebv_draw ebv_from = ebv_draw::uniform;
  float ebv_lognormal[3] = {0.67306f, 0.001146f, 0.03338f};           // shape, loc, scale
  float extinction[max_bands] = {surveys::decals.bands[0].reddening,  // R_b per band
                                 surveys::decals.bands[1].reddening,
                                 surveys::decals.bands[2].reddening};
  // 2. Flips (each axis with probability flip_p), rotation by U(angle_min, angle_max) degrees.
  float flip_p = 0.5f;
  float angle_min = 0.0f, angle_max = 360.0f;
  // 3. Size scale factor ~ U(scale_min, scale_max) (> 1 enlarges the galaxy).
  float scale_min = 0.9f, scale_max = 1.1f;
  // 4. PSF blur: target sigma (input pixels) ~ U(min_b, max_b), added in quadrature to the
  // catalogue PSF; kernel truncated at blur_truncate sigma and renormalised.
  float blur_sigma_min[max_bands] = {1.3233f, 1.2667f, 1.2126f};
  float blur_sigma_max[max_bands] = {5.0f, 4.5f, 4.25f};
  float blur_truncate = 3.0f;
  float psf_fwhm_fallback = 0.0f;  // arcsec, used where the catalogue PSF is NaN/<=0
  // 5. Jitter: crop centre shifted by an integer in [-jitter_max, jitter_max] per axis.
  int jitter_max = 7;
  // 6. Noise: target sigma ~ U(min_b, max_b), added in quadrature to the image's own noise.
  float noise_sigma_min[max_bands] = {0.001094f, 0.001094f, 0.001094f};
  float noise_sigma_max[max_bands] = {0.013f, 0.018f, 0.061f};
  noise_source noise_from = noise_source::estimate;
  float catalogue_noise[max_bands] = {0, 0, 0};  // used when noise_from == config
  int noise_border = 8;                          // frame width (px) for the estimate
  // 7. arcsinh stretch (Lupton et al. "to RGB", as the DECaLS study displays/normalises).
  float stretch_scale[max_bands] = {6.0f, 3.4f, 2.2f};
  float stretch_m = 0.03f;
  float stretch_q = 20.0f;

  // Host threads that augment sub-batches of a batch at once (augment_threads.hpp; CPU tensors
  // only). Does not change any view: a sample's views are bit-identical at every count.
  int threads = 1;

  static augment_config decals();
  static augment_config sdss();

  // Blur half-width in output pixels for the widest kernel the config can draw; the padded
  // geometry buffer is (crop_h + 2r) x (crop_w + 2r).
  int max_radius() const;
  // Throws config_error naming the field and value at fault.
  void validate() const;
  std::string describe() const;  // one line per field, for logs and docs
};

// Reads section `section` ("augment"): key `<section>.preset` = "decals" | "sdss" picks the
// built-in preset (default decals), then every field can be overridden by its own key (see
// docs/augmentations.md for the list). Validates; errors are config_error naming the key.
augment_config augment_config_from(const skyssl::config& c, const std::string& section = "augment");

}  // namespace skyssl::kernels
