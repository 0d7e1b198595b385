#pragma once
// Galaxies from outside the archive, as query images: a cutout file read into (N, C, H, W)
// float32, and its embedding with a trained encoder (the validation view: centre crop), in
// the same space an embedding file holds.
#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include "kernels/augment_config.hpp"
#include "skyssl/model/resnet.hpp"

namespace skyssl::embed {

// FITS (.fits, .fit, .fz; a primary image of 2 axes for one band or 3 for bands x height x
// width) or HDF5 (.h5, .hdf5; dataset `images` of (N, C, H, W) or (C, H, W)). data_error
// naming the file otherwise, or, before allocating, when max_values > 0 and the file's images
// hold more values (a header may claim any size; skyssl-serve bounds uploads so).
torch::Tensor read_cutout(const std::filesystem::path& path, std::int64_t max_values = 0);

// Centre crops of `images` through `encoder`: backbone features (space "backbone") or the
// projection head's output ("projection"), raw (not normalised), (N, d). The crop needs
// H, W >= the augment crop and the encoder's band count: data_error naming `source` otherwise.
torch::Tensor embed_images(model::resnet& encoder, const torch::Tensor& images,
                           const kernels::augment_config& augment, const std::string& space,
                           const std::string& source);

}  // namespace skyssl::embed
