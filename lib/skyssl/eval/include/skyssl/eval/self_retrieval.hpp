#pragma once
// Self-retrieval under augmentation (needs no labels): two augmented views of each of M
// galaxies; for each first view, is the nearest second view (cosine) its own? Top-1 against
// chance 1/M. The views come from the training chain (kernels/, keyed by train.seed and an
// epoch no training run reaches), so they are the same for every encoder evaluated.
#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "kernels/augment_config.hpp"
#include "skyssl/data/archive.hpp"

namespace skyssl::eval {

// The augmentation epoch of the evaluation views.
inline constexpr std::int64_t retrieval_epoch = 1 << 30;

struct retrieval_views {
  torch::Tensor ids, view1, view2;  // (M), (M, C, h, w) x 2
};

// Views of the given sorted global rows, with the archive's E(B-V) and PSF fields as the
// trainer's reader supplies them (0 and unknown where absent).
retrieval_views make_retrieval_views(const data::archive& archive,
                                     const kernels::augment_config& augment,
                                     const std::vector<std::int64_t>& sorted_rows,
                                     std::uint64_t seed);

// Row i of a retrieves row i of b: share of rows whose nearest row of b is their own, by cosine
// after centring both on b's mean.
double retrieval_top1(const torch::Tensor& a, const torch::Tensor& b);

}  // namespace skyssl::eval
