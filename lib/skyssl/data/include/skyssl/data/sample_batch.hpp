#pragma once
// What the shard reader hands to the rest of the pipeline: this rank's slice of one global
// batch, plus the catalogue fields the augmentations need. (Contract shared by lib/data,
// kernels/ and lib/train; extend, do not rename.)
#include <torch/types.h>

#include <cstdint>

namespace skyssl::data {

struct sample_batch {
  std::int64_t epoch = 0;
  std::int64_t step = 0;   // step within the epoch
  torch::Tensor ids;       // (B) int64: global sample ids (row in the concatenated archive)
  torch::Tensor images;    // (B,C,H,W) float32, host memory
  torch::Tensor ebv;       // (B) float32 catalogue E(B-V); zeros when the archive has none
  torch::Tensor psf_fwhm;  // (B,C) float32 catalogue PSF FWHM in arcsec; NaN where unknown
  std::int64_t nonfinite_pixels = 0;  // NaN/Inf pixels set to 0 in `images` (data.nonfinite=zero)
};

}  // namespace skyssl::data
