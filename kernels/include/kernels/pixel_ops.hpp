#pragma once
// Small per-pixel pieces of the fused kernels (host and device). The plain reference in
// reference.cpp writes the same math again on its own.
#include <cmath>
#include <cstdint>
#include <cstring>

#include "skyssl/core/philox.hpp"

// Inlined even where the compiler's size heuristics say no: a call inside a pixel loop stops
// it vectorising (the noise loop calls normal_pair twice per Philox block).
#define SKYSSL_HD_FORCE SKYSSL_HD __attribute__((always_inline))

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

// bilinear() where the caller guarantees 0 <= y < H-1 and 0 <= x < W-1: floor is a
// truncation and no reflection is needed. No branch, so a row of samples vectorises (gathers).
SKYSSL_HD float bilinear_inside(const float* plane, int W, float y, float x) {
  const int y0 = static_cast<int>(y), x0 = static_cast<int>(x);
  const float fy = y - static_cast<float>(y0), fx = x - static_cast<float>(x0);
  const int i = y0 * W + x0;  // plane[index] form: CPUs vectorise it as gathers
  return (1.0f - fy) * ((1.0f - fx) * plane[i] + fx * plane[i + 1]) +
         fy * ((1.0f - fx) * plane[i + W] + fx * plane[i + W + 1]);
}

// max(v, 0) and min(v, 1) without libm calls (fmaxf/fminf are not inlined for their NaN
// rules); a NaN maps to 0 exactly as fmaxf(NaN, 0) does.
SKYSSL_HD_FORCE float pos_part(float v) { return v > 0.0f ? v : 0.0f; }
SKYSSL_HD_FORCE float min_one(float v) { return v < 1.0f ? v : 1.0f; }

// Natural log of a finite x > 0 (Cephes logf: exponent from the bits, degree-9 polynomial on
// [sqrt(1/2), sqrt(2)); about 1 ulp). Unlike libm's logf it is inline and branch-free, so a
// loop over pixels vectorises.
SKYSSL_HD_FORCE float log_pos(float x) {
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

// sin and cos of 2 pi u for u in [0, 1): quarter-turn reduction (exact in float) to
// |a| <= pi/4, then the Cephes sinf/cosf polynomials (about 1 ulp). Inline and branch-free
// (selects only), so the noise loop vectorises; libm's sincosf is a call per pixel.
SKYSSL_HD_FORCE void sincos_turns(float u, float& s, float& c) {
  const float q = 4.0f * u;
  const int k = static_cast<int>(q + 0.5f);  // nearest quarter turn, 0..4
  const float a = (q - static_cast<float>(k)) * 1.57079632679489662f;
  const float z = a * a;
  const float sa = a + a * z * (-1.6666654611e-1f + z * (8.3321608736e-3f + z * -1.9515295891e-4f));
  const float ca =
      1.0f - 0.5f * z +
      z * z * (4.166664568298827e-2f + z * (-1.388731625493765e-3f + z * 2.443315711809948e-5f));
  const bool swap = (k & 1) != 0;
  const float s0 = swap ? ca : sa, c0 = swap ? sa : ca;
  s = (k & 2) ? -s0 : s0;
  c = ((k + 1) & 2) ? -c0 : c0;
}

// Two standard normals from two Philox words by Box-Muller, with the inline log and sincos
// above (rng::to_normal2 is the libm version for host-only use).
SKYSSL_HD_FORCE void normal_pair(std::uint32_t a, std::uint32_t b, float& n0, float& n1) {
  // 24-bit values converted as signed ints (same result): AVX2 has no unsigned conversion,
  // and without this the loop stays scalar there.
  const float u1 = 1.0f - static_cast<float>(static_cast<int>(a >> 8)) * 5.9604645e-8f;  // (0,1]
  const float u2 = static_cast<float>(static_cast<int>(b >> 8)) * 5.9604645e-8f;         // [0,1)
  const float r = sqrtf(-2.0f * log_pos(u1));
  float s, c;
  sincos_turns(u2, s, c);
  n0 = r * c;
  n1 = r * s;
}

// asinh for x >= 0 through a log (libm's asinhf goes through log1pf and is several times
// slower); a series below 1e-2 keeps the relative accuracy that asinh(x)/x needs. Both sides
// are computed and one selected, without a branch, so a loop over pixels vectorises.
SKYSSL_HD_FORCE float asinh_nonneg(float x) {
  const float series = x * (1.0f - x * x * (1.0f / 6.0f - x * x * (3.0f / 40.0f)));
  const float lg = log_pos(x + sqrtf(x * x + 1.0f));
  return x < 1e-2f ? series : lg;
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

}  // namespace skyssl::kernels::detail
