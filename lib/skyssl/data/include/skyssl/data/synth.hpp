#pragma once
// A synthetic galaxy survey good enough to learn from. Each galaxy is a pure function of
// (seed, galaxy id) through Philox (purpose rng::synth): a Sersic bulge (n=4) plus an
// exponential disk, smooth (bulge-dominated) or featured (disk-dominated with spiral arms or
// star-forming clumps); redshift drives brightness, angular size and colours; Galactic
// reddening 10^(-0.4 R_b E(B-V)); per-band Gaussian PSF and sky noise. Pixels in nanomaggies.
#include <cstdint>
#include <string>
#include <vector>

#include "skyssl/core/surveys.hpp"

namespace skyssl::data {

struct synth_options {
  std::uint64_t seed = 0;
  int size = 152;                                    // H = W
  std::vector<std::string> bands = {"g", "r", "z"};  // any of u g r i z
  double pixel_scale = surveys::decals.pixel_scale;  // arcsec per pixel
};

struct galaxy {
  std::int64_t id = 0;
  int morphology = 0;  // 0 smooth, 1 featured
  int arms = 0;        // spiral arms (0: none; featured galaxies without arms have clumps)
  int clumps = 0;
  double ra = 0, dec = 0;
  float z_spec = 0, ebv = 0;
  float mag_r = 0;               // apparent r magnitude before reddening
  float r_half = 0;              // disk half-light radius, arcsec
  float ba = 1, pa = 0;          // axis ratio, position angle (deg)
  float bulge_frac = 0;          // bulge share of the r-band flux
  float pitch = 0;               // spiral pitch angle, deg
  float dx = 0, dy = 0;          // centre offset, pixels
  std::vector<float> psf_fwhm;   // per band, arcsec
  std::vector<float> sky_sigma;  // per band, nanomaggies per pixel
  std::vector<float> flux;       // per band, observed (reddened) total flux, nanomaggies
  std::vector<float> bulge_flux, disk_flux, clump_flux;  // per band, before reddening
};

// Extinction coefficient R_b (DECam for g r i z, SDSS for u); data_error for unknown bands.
double extinction_coefficient(const std::string& band);

galaxy draw_galaxy(const synth_options& o, std::int64_t id);
// Renders bands x size x size floats into out; `scratch` is reused between calls.
void render_galaxy(const synth_options& o, const galaxy& g, float* out,
                   std::vector<float>& scratch);

}  // namespace skyssl::data
