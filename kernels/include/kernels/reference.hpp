#pragma once
// Plain C++ reference of the augmentation chain: one function per step, in the reference
// order (reddening on the input, then the geometric map, blur, noise, stretch), written for
// clarity (double-precision kernel weights and sums), no Kokkos. The tests compare the fused
// kernels against it. The random parameters come from draw_sample_params (sample_params.hpp),
// the same function the kernels call: the draw is part of the specification.
#include <cstdint>
#include <vector>

#include "kernels/augment_config.hpp"
#include "kernels/sample_params.hpp"

namespace skyssl::kernels::reference {

struct image {
  int c = 0, h = 0, w = 0;
  std::vector<float> px;  // (c, h, w) row-major
  image() = default;
  image(int c_, int h_, int w_) : c(c_), h(h_), w(w_), px(static_cast<std::size_t>(c_) * h_ * w_) {}
  float& at(int b, int y, int x) { return px[(static_cast<std::size_t>(b) * h + y) * w + x]; }
  float at(int b, int y, int x) const { return px[(static_cast<std::size_t>(b) * h + y) * w + x]; }
};

// Copies one sample (C, H, W) out of a batch buffer.
image from_buffer(const float* data, int c, int h, int w);

// Noise std of each band: sigma-clipped (3 sigma, one pass) std of the frame `border` wide.
std::vector<float> frame_noise(const image& in, int border);
// Step 1: band b multiplied by gain[b].
image redden(const image& in, const float* gain);
// Steps 2, 3, 5: the inverse map of p, bilinear with reflect-101 borders, sampled on the output
// grid padded by `pad` pixels on every side: (c, h + 2 pad, w + 2 pad).
image geometry(const image& in, const sample_params& p, int h, int w, int pad);
// Normalised Gaussian taps k = -r..r (double).
std::vector<double> gaussian_taps(double sigma, int r);
// Step 4 (separable): blur of the padded image with per-band sigma/radius, cut to (h, w).
image blur(const image& padded, const sample_params& p, int pad, int h, int w);
// Step 6: adds sigma[b] * N(0,1) from the Philox noise stream of (seed, epoch, id, view).
void add_noise(image& im, const float* sigma, std::uint64_t seed, std::int64_t epoch,
               std::uint64_t id, int view);
// Step 7: Lupton arcsinh stretch across bands, clipped to [0, 1].
void stretch(image& im, const float* scale, float m, float q);
// Integer-offset centre crop ((H-h)/2, (W-w)/2).
image center_crop(const image& in, int h, int w);

// The whole chain for one view of one sample.
image augment_view(const augment_config& cfg, const image& in, std::uint64_t id, float ebv,
                   const float* psf_fwhm, std::uint64_t seed, std::int64_t epoch, int view);

}  // namespace skyssl::kernels::reference
