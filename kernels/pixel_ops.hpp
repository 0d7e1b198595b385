#pragma once
// Small per-pixel pieces of the fused kernels (host and device). The plain reference in
// reference.cpp writes the same math again on its own.
#include <cmath>
#include <cstdint>
#include <cstring>

#include "skyssl/core/philox.hpp"

namespace skyssl::kernels::detail {

// Reflect-101 boundary (..., 2, 1 | 0, 1, 2, ..., n-1 | n-2, ...), clamped when the
// reflection still falls outside (far outside tiny images).
SKYSSL_HD int reflect101(int i, int n) {
  if (i < 0) i = -i;
  if (i >= n) i = 2 * (n - 1) - i;
  return i < 0 ? 0 : (i >= n ? n - 1 : i);
}

// Bilinear sample of a (H, W) row-major plane at continuous (y, x), pixel centres at integers.
SKYSSL_HD float bilinear(const float* plane, int H, int W, float y, float x) {
  const float y0f = floorf(y), x0f = floorf(x);
  const float fy = y - y0f, fx = x - x0f;
  const int y0 = static_cast<int>(y0f), x0 = static_cast<int>(x0f);
  if (y0 >= 0 && x0 >= 0 && y0 + 1 < H && x0 + 1 < W) {
    const float* r0 = plane + y0 * W + x0;
    const float* r1 = r0 + W;
    return (1.0f - fy) * ((1.0f - fx) * r0[0] + fx * r0[1]) +
           fy * ((1.0f - fx) * r1[0] + fx * r1[1]);
  }
  const int ya = reflect101(y0, H), yb = reflect101(y0 + 1, H);
  const int xa = reflect101(x0, W), xb = reflect101(x0 + 1, W);
  return (1.0f - fy) * ((1.0f - fx) * plane[ya * W + xa] + fx * plane[ya * W + xb]) +
         fy * ((1.0f - fx) * plane[yb * W + xa] + fx * plane[yb * W + xb]);
}

// bilinear() with a cheap interior path: inside [0, H-1) x [0, W-1) floor is a truncation
// (no floorf, no reflection); the result is bit-identical to bilinear().
SKYSSL_HD float bilinear_fast(const float* plane, int H, int W, float y, float x) {
  if (y >= 0.0f && x >= 0.0f && y < static_cast<float>(H - 1) && x < static_cast<float>(W - 1)) {
    const int y0 = static_cast<int>(y), x0 = static_cast<int>(x);
    const float fy = y - static_cast<float>(y0), fx = x - static_cast<float>(x0);
    const float* r0 = plane + y0 * W + x0;
    const float* r1 = r0 + W;
    return (1.0f - fy) * ((1.0f - fx) * r0[0] + fx * r0[1]) +
           fy * ((1.0f - fx) * r1[0] + fx * r1[1]);
  }
  return bilinear(plane, H, W, y, x);
}

// max(v, 0) and min(v, 1) without libm calls (fmaxf/fminf are not inlined for their NaN
// rules); a NaN maps to 0 exactly as fmaxf(NaN, 0) does.
SKYSSL_HD float pos_part(float v) { return v > 0.0f ? v : 0.0f; }
SKYSSL_HD float min_one(float v) { return v < 1.0f ? v : 1.0f; }

// Natural log of a finite x > 0 (Cephes logf: exponent from the bits, degree-9 polynomial on
// [sqrt(1/2), sqrt(2)); about 1 ulp). Unlike libm's logf it is inline and branch-free, so a
// loop over pixels vectorises.
SKYSSL_HD float log_pos(float x) {
  std::uint32_t bits;
  memcpy(&bits, &x, sizeof bits);
  float e = static_cast<float>(static_cast<int>(bits >> 23) - 126);
  bits = (bits & 0x007FFFFFu) | 0x3F000000u;  // mantissa in [0.5, 1)
  float m;
  memcpy(&m, &bits, sizeof m);
  const bool low = m < 0.707106781186547524f;
  e = low ? e - 1.0f : e;
  m = low ? m + m - 1.0f : m - 1.0f;
  const float z = m * m;
  float y = 7.0376836292e-2f;
  y = y * m - 1.1514610310e-1f;
  y = y * m + 1.1676998740e-1f;
  y = y * m - 1.2420140846e-1f;
  y = y * m + 1.4249322787e-1f;
  y = y * m - 1.6668057665e-1f;
  y = y * m + 2.0000714765e-1f;
  y = y * m - 2.4999993993e-1f;
  y = y * m + 3.3333331174e-1f;
  y = y * m * z;
  y += -2.12194440e-4f * e;
  y += -0.5f * z;
  return m + y + 0.693359375f * e;
}

// asinh for x >= 0 through a log (libm's asinhf goes through log1pf and is several times
// slower); a series below 1e-2 keeps the relative accuracy that asinh(x)/x needs.
SKYSSL_HD float asinh_nonneg(float x) {
  if (x < 1e-2f) return x * (1.0f - x * x * (1.0f / 6.0f - x * x * (3.0f / 40.0f)));
  return log_pos(x + sqrtf(x * x + 1.0f));
}

// Lupton arcsinh stretch of one pixel across bands, in place (band order kept):
// t_b = x_b * scale_b + m, I = mean_b max(t_b, 0), out_b = clip(t_b * asinh(Q I) / sqrt(Q) / I).
SKYSSL_HD void stretch_pixel(float* v, int bands, const float* scale, float m, float q) {
  float I = 0.0f;
  for (int b = 0; b < bands; ++b) {
    v[b] = v[b] * scale[b] + m;
    I += pos_part(v[b]);
  }
  I /= static_cast<float>(bands);
  const float f = asinh_nonneg(q * I) / sqrtf(q) / (I == 0.0f ? 1e-6f : I);
  for (int b = 0; b < bands; ++b) v[b] = min_one(pos_part(v[b] * f));
}

// stretch_pixel() on a group of 4 pixels of every band, v[b][j], with 1/sqrt(Q) given: the
// per-pixel work is laid out lane-wise and branch-free (one division, no sqrt of Q, the inline
// log) so that it vectorises on CPUs. Unused lanes of a partial group must hold finite values.
SKYSSL_HD void stretch_group(float (*v)[4], int bands, const float* scale, float mm, float q,
                             float inv_sqrt_q) {
  float I[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  for (int b = 0; b < bands; ++b)
    for (int j = 0; j < 4; ++j) {
      v[b][j] = v[b][j] * scale[b] + mm;
      I[j] += pos_part(v[b][j]);
    }
  float f[4];
  const float inv_bands = 1.0f / static_cast<float>(bands);
  for (int j = 0; j < 4; ++j) I[j] *= inv_bands;
  for (int j = 0; j < 4; ++j) {
    const float x = q * I[j];
    const float series = x * (1.0f - x * x * (1.0f / 6.0f - x * x * (3.0f / 40.0f)));
    const float lg = log_pos(x + sqrtf(x * x + 1.0f));
    f[j] = x < 1e-2f ? series : lg;  // asinh_nonneg(x), both sides computed: no branch
  }
  for (int j = 0; j < 4; ++j) f[j] *= inv_sqrt_q / (I[j] == 0.0f ? 1e-6f : I[j]);
  for (int b = 0; b < bands; ++b)
    for (int j = 0; j < 4; ++j) v[b][j] = min_one(pos_part(v[b][j] * f[j]));
}

}  // namespace skyssl::kernels::detail
