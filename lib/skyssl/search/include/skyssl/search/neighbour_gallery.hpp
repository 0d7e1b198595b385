#pragma once
// A PNG of each query galaxy (framed) followed by its nearest neighbours, one row a query, in
// the arcsinh RGB stretch of skyssl-prep gallery (rgb_tiles).
#include <filesystem>
#include <string>

#include <torch/types.h>

#include "kernels/augment_config.hpp"
#include "skyssl/data/archive.hpp"
#include "skyssl/search/search_query.hpp"
#include "skyssl/search/similarity_index.hpp"

namespace skyssl::search {

struct gallery_request {
  std::filesystem::path out;
  std::vector<std::string> archive;  // the archive the embedding file's rows are rows of
  std::filesystem::path run_dir;     // optional: its [augment] section sets crop and stretch
  int zoom = 0;                      // 0: tiles of at least 96 px; else 1..tiles::max_gallery_zoom
};

// The display: the run's [augment] section when run_dir is given, else the survey's preset (as
// skyssl-prep gallery chooses it); centre crops of at most the archive's size, left unstretched
// for rgb_canvas to stretch. config_error when the band counts differ.
kernels::augment_config display_config(const data::archive& ar,
                                       const std::filesystem::path& run_dir);

// One (C, H, W) image as a PNG's bytes: its centre crop in the display's arcsinh RGB stretch,
// each pixel drawn zoom x zoom (skyssl-serve's tiles, the same look as the gallery).
std::string tile_png(const torch::Tensor& image, const kernels::augment_config& display, int zoom);

// Query rows and neighbours are read from the archive (its row count must equal the
// embedding file's: error naming both otherwise); cutout queries are shown from the cutout.
void write_neighbour_gallery(const gallery_request& g, const query_set& q, const neighbours& nn,
                             std::int64_t embedding_rows);

}  // namespace skyssl::search
