#pragma once
// The augmentation API for the trainer: torch tensors in, torch tensors out, computed by the
// Kokkos kernels of augment_kernels.hpp (zero copy) in the execution space of the tensors'
// device: host tensors in the host space, CUDA tensors in Kokkos' CUDA space on LibTorch's
// current stream. Every tensor of a call must be on the same device.
#include <torch/types.h>

#include <cstdint>

#include "kernels/augment_config.hpp"
#include "kernels/kokkos_runtime.hpp"

namespace skyssl::kernels {

class augment_threads;

struct two_views {
  torch::Tensor view1, view2;  // (N, C, h, w) float32 on the input's device
};

// images (N,C,H,W) f32, ids (N) int64 global ids, ebv (N) f32, psf_fwhm (N,C) f32 arcsec with
// NaN = unknown. A sample's views depend only on (config, seed, epoch, id, its own pixels):
// not on the batch it is in, the rank or the backend.
two_views augment_two_views(const augment_config& cfg, const torch::Tensor& images,
                            const torch::Tensor& ids, const torch::Tensor& ebv,
                            const torch::Tensor& psf_fwhm, std::uint64_t seed, std::int64_t epoch);

// The same into caller-owned outputs (N, C, h, w) float32, contiguous, on the images' device
// (see view_pool for reusing them across batches).
void augment_two_views_into(const augment_config& cfg, const torch::Tensor& images,
                            const torch::Tensor& ids, const torch::Tensor& ebv,
                            const torch::Tensor& psf_fwhm, std::uint64_t seed, std::int64_t epoch,
                            const two_views& out);

// The same with host tensors' samples split between the threads of `threads` (augment.threads,
// augment_threads.hpp): the views are bit-identical to the call above whatever the thread
// count. CUDA tensors run on the device as above; `threads` is not used for them.
void augment_two_views_into(const augment_config& cfg, const torch::Tensor& images,
                            const torch::Tensor& ids, const torch::Tensor& ebv,
                            const torch::Tensor& psf_fwhm, std::uint64_t seed, std::int64_t epoch,
                            const two_views& out, augment_threads& threads);
two_views augment_two_views(const augment_config& cfg, const torch::Tensor& images,
                            const torch::Tensor& ids, const torch::Tensor& ebv,
                            const torch::Tensor& psf_fwhm, std::uint64_t seed, std::int64_t epoch,
                            augment_threads& threads);

// The validation view: centre crop (integer offset (H-h)/2, (W-w)/2), stretched if enabled.
torch::Tensor center_crop(const augment_config& cfg, const torch::Tensor& images);

}  // namespace skyssl::kernels
