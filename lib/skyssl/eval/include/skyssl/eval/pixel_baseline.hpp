#pragma once
// The raw-pixel baseline: centre crops flattened, standardised per pixel and projected on
// their leading principal components (fitted on the crops themselves, no labels). What a probe
// gets from the images alone, with no encoder at all.
#include <torch/types.h>

#include <cstdint>

namespace skyssl::eval {

struct pixel_pca {
  torch::Tensor mean, inv_std;  // (p) float32 over flattened pixels
  torch::Tensor basis;          // (p, k) float32, orthonormal columns
  // (N, C, h, w) crops -> (N, k) float32 component scores.
  torch::Tensor project(const torch::Tensor& crops) const;
};

// Fits on (at most max_rows of) crops (N, C, h, w): k = min(components, rows - 1, pixels).
pixel_pca fit_pixel_pca(const torch::Tensor& crops, int components, std::int64_t max_rows = 4096);

}  // namespace skyssl::eval
