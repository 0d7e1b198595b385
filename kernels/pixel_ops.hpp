#pragma once
// Small per-pixel pieces of the fused kernels (host and device). The plain reference in
// reference.cpp writes the same math again on its own.
#include <cmath>

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

// asinh for x >= 0 through logf (libm's asinhf goes through log1pf and is several times
// slower); a series below 1e-2 keeps the relative accuracy that asinh(x)/x needs.
SKYSSL_HD float asinh_nonneg(float x) {
  if (x < 1e-2f) return x * (1.0f - x * x * (1.0f / 6.0f - x * x * (3.0f / 40.0f)));
  return logf(x + sqrtf(x * x + 1.0f));
}

// Lupton arcsinh stretch of one pixel across bands, in place (band order kept):
// t_b = x_b * scale_b + m, I = mean_b max(t_b, 0), out_b = clip(t_b * asinh(Q I) / sqrt(Q) / I).
SKYSSL_HD void stretch_pixel(float* v, int bands, const float* scale, float m, float q) {
  float I = 0.0f;
  for (int b = 0; b < bands; ++b) {
    v[b] = v[b] * scale[b] + m;
    I += fmaxf(v[b], 0.0f);
  }
  I /= static_cast<float>(bands);
  const float f = asinh_nonneg(q * I) / sqrtf(q) / (I == 0.0f ? 1e-6f : I);
  for (int b = 0; b < bands; ++b) v[b] = fminf(fmaxf(v[b] * f, 0.0f), 1.0f);
}

}  // namespace skyssl::kernels::detail
