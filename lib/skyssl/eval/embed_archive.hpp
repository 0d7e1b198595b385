#pragma once
// Representations of every galaxy of an archive: centre crops (the validation view) through a
// frozen encoder's backbone, L2-normalised. Streams the archive in chunks so memory is bounded
// by the chunk, not the archive.
#include <torch/types.h>

#include <cstdint>

#include "kernels/augment_config.hpp"
#include "skyssl/data/archive.hpp"
#include "skyssl/model/resnet.hpp"

namespace skyssl::eval {

struct embedding_set {
  torch::Tensor ids;       // (N) int64 global rows
  torch::Tensor features;  // (N, d) float32, unit rows
};

// Rows [0, limit) of the archive (limit <= 0: all). Prints progress and galaxies/s on rank 0.
embedding_set embed_archive(model::resnet& encoder, const data::archive& archive,
                            const kernels::augment_config& augment, std::int64_t chunk,
                            std::int64_t limit = 0);

}  // namespace skyssl::eval
