#pragma once
// The random parameters of one view of one sample: a pure function of the config and the key
// (seed, epoch, global sample id, view), drawn with Philox. Shared by the Kokkos kernels and
// the plain reference, so both apply the same draw; the pixel math is written twice.
// Host and device code (SKYSSL_HD), no allocation, no Kokkos.
#include <cmath>
#include <cstdint>

#include "kernels/augment_config.hpp"
#include "kernels/pixel_ops.hpp"
#include "skyssl/core/philox.hpp"

namespace skyssl::kernels {

struct sample_params {
  // Inverse map of the geometry: output pixel (y, x) of the crop, measured from the crop
  // centre and shifted by the jitter, v = (y - (h-1)/2 + jy, x - (w-1)/2 + jx), samples the
  // input at (cy + m00 vy + m01 vx, cx + m10 vy + m11 vx).
  float m00 = 1, m01 = 0, m10 = 0, m11 = 1;
  float cy = 0, cx = 0;
  int jy = 0, jx = 0;
  float scale = 1;
  float gain[max_bands];         // reddening factor per band
  float blur_sigma[max_bands];   // Gaussian sigma on the output grid (output pixels)
  int radius[max_bands];         // blur half-width, output pixels (0 = no blur)
  float noise_sigma[max_bands];  // std of the added noise per band
};

// Sine and cosine of an angle in degrees, exact at multiples of 90 (so a 90-degree rotation
// is an exact transpose-flip).
SKYSSL_HD void sincos_deg(float deg, float& s, float& c) {
  const float q = floorf(deg / 90.0f);
  const float r = (deg - 90.0f * q) * 0.017453292519943295f;
  const int quadrant = ((static_cast<int>(q) % 4) + 4) % 4;
  const float s0 = sinf(r), c0 = cosf(r);
  switch (quadrant) {
    case 0:
      s = s0;
      c = c0;
      break;
    case 1:
      s = c0;
      c = -s0;
      break;
    case 2:
      s = -s0;
      c = -c0;
      break;
    default:
      s = -c0;
      c = s0;
      break;
  }
}

SKYSSL_HD float uniform(std::uint32_t word, float lo, float hi) {
  return lo + (hi - lo) * rng::to_unit_float(word);
}

SKYSSL_HD std::uint32_t band_word(const rng::stream_key& k, int band) {
  return rng::draw(k, static_cast<std::uint32_t>(band / 4)).v[band % 4];
}

// psf_fwhm: catalogue PSF FWHM in arcsec for each band (stride psf_stride), NaN/<=0 unknown.
// image_noise: the input image's own noise std per band (before reddening).
SKYSSL_HD sample_params draw_sample_params(const augment_config& c, int in_h, int in_w,
                                           std::uint64_t seed, std::int64_t epoch,
                                           std::uint64_t sample, int view, float ebv_catalogue,
                                           const float* psf_fwhm, int psf_stride,
                                           const float* image_noise) {
  sample_params p;
  rng::stream_key key{seed, static_cast<std::uint64_t>(epoch), sample,
                      static_cast<std::uint32_t>(view), rng::augment_geometry};
  const rng::u32x4 g0 = rng::draw(key, 0), g1 = rng::draw(key, 1);
  const float fy = (c.flips && rng::to_unit_float(g0.v[0]) < c.flip_p) ? -1.0f : 1.0f;
  const float fx = (c.flips && rng::to_unit_float(g0.v[1]) < c.flip_p) ? -1.0f : 1.0f;
  float sn = 0.0f, cs = 1.0f;
  if (c.rotation) sincos_deg(uniform(g0.v[2], c.angle_min, c.angle_max), sn, cs);
  p.scale = c.scale ? uniform(g0.v[3], c.scale_min, c.scale_max) : 1.0f;
  if (c.jitter) {
    const int span = 2 * c.jitter_max + 1;
    p.jy = static_cast<int>(rng::to_unit_float(g1.v[0]) * span) - c.jitter_max;
    p.jx = static_cast<int>(rng::to_unit_float(g1.v[1]) * span) - c.jitter_max;
  }
  // Inverse of  q = scale * Rot(angle) * Flip * p  on (y, x) offsets from the centre.
  const float inv = 1.0f / p.scale;
  p.m00 = fy * cs * inv;
  p.m01 = -fy * sn * inv;
  p.m10 = fx * sn * inv;
  p.m11 = fx * cs * inv;
  // Rotation centre: the centre of the integer-offset centre crop, so that with every step off
  // the map is an exact integer shift (a half-pixel off the image centre when H - h is odd).
  p.cy = static_cast<float>((in_h - c.crop_h) / 2) + 0.5f * static_cast<float>(c.crop_h - 1);
  p.cx = static_cast<float>((in_w - c.crop_w) / 2) + 0.5f * static_cast<float>(c.crop_w - 1);

  key.purpose = rng::augment_reddening;
  const auto red = rng::draw(key, 0);
  float ebv_new = uniform(red.v[0], c.ebv_min, c.ebv_max);
  if (c.ebv_from == ebv_draw::lognormal) {
    float z0 = 0.0f, z1 = 0.0f;
    rng::to_normal2(red.v[1], red.v[2], z0, z1);
    const float x = c.ebv_lognormal[1] + c.ebv_lognormal[2] * expf(c.ebv_lognormal[0] * z0);
    ebv_new = fminf(fmaxf(x, c.ebv_min), c.ebv_max);
  }
  const float ebv_old = ebv_catalogue == ebv_catalogue ? ebv_catalogue : 0.0f;  // NaN -> 0
  for (int b = 0; b < c.bands; ++b)
    p.gain[b] = c.reddening ? powf(10.0f, -0.4f * c.extinction[b] * (ebv_new - ebv_old)) : 1.0f;

  key.purpose = rng::augment_blur;
  for (int b = 0; b < c.bands; ++b) {
    p.blur_sigma[b] = 0.0f;
    p.radius[b] = 0;
    if (!c.blur) continue;
    float fwhm = psf_fwhm ? psf_fwhm[b * psf_stride] : NAN;
    if (!(fwhm > 0.0f)) fwhm = c.psf_fwhm_fallback;
    const float sigma_true = fwhm / static_cast<float>(c.pixel_scale) / 2.3548f;
    const float target = uniform(band_word(key, b), c.blur_sigma_min[b], c.blur_sigma_max[b]);
    // Quadrature in input pixels; the blur runs on the output grid, where an input pixel is
    // `scale` output pixels wide.
    const float add = sqrtf(fmaxf(target * target - sigma_true * sigma_true, 0.0f));
    p.blur_sigma[b] = add * p.scale;
    const int r = static_cast<int>(ceilf(c.blur_truncate * p.blur_sigma[b]));
    p.radius[b] = p.blur_sigma[b] < 1e-3f ? 0 : (r > max_blur_radius ? max_blur_radius : r);
  }

  key.purpose = rng::augment_noise_level;
  for (int b = 0; b < c.bands; ++b) {
    p.noise_sigma[b] = 0.0f;
    if (!c.noise) continue;
    const float target = uniform(band_word(key, b), c.noise_sigma_min[b], c.noise_sigma_max[b]);
    const float own = image_noise ? image_noise[b] * p.gain[b] : 0.0f;
    p.noise_sigma[b] = sqrtf(fmaxf(target * target - own * own, 0.0f));
  }
  return p;
}

// Key of the per-pixel noise stream: pixel (c, y, x) of a (C, h, w) view takes normal number
// x % 4 of block (c*h + y) * ceil(w/4) + x/4 (four normals per Philox block, Box-Muller).
SKYSSL_HD rng::stream_key noise_key(std::uint64_t seed, std::int64_t epoch, std::uint64_t sample,
                                    int view) {
  return rng::stream_key{seed, static_cast<std::uint64_t>(epoch), sample,
                         static_cast<std::uint32_t>(view), rng::augment_noise};
}
SKYSSL_HD_FORCE void noise_block(const rng::stream_key& k, std::uint32_t block, float n[4]) {
  const rng::u32x4 w = rng::draw(k, block);
  detail::normal_pair(w.v[0], w.v[1], n[0], n[1]);
  detail::normal_pair(w.v[2], w.v[3], n[2], n[3]);
}

}  // namespace skyssl::kernels
