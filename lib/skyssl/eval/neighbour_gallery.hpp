#pragma once
// A PNG of each query galaxy (framed) followed by its nearest neighbours, one row a query, in
// the arcsinh RGB stretch of skyssl-prep gallery (rgb_tiles).
#include <filesystem>
#include <string>

#include "skyssl/eval/search_query.hpp"
#include "skyssl/eval/similarity_index.hpp"

namespace skyssl::eval {

constexpr int max_gallery_zoom = 64;  // a zoom beyond it only makes the PNG bigger

struct gallery_request {
  std::filesystem::path out;
  std::vector<std::string> archive;  // the archive the embedding file's rows are rows of
  std::filesystem::path run_dir;     // optional: its [augment] section sets crop and stretch
  int zoom = 0;                      // 0: tiles of at least 96 px; else 1..max_gallery_zoom
};

// Query rows and neighbours are read from the archive (its row count must equal the
// embedding file's: error naming both otherwise); cutout queries are shown from the cutout.
void write_neighbour_gallery(const gallery_request& g, const query_set& q, const neighbours& nn,
                             std::int64_t embedding_rows);

}  // namespace skyssl::eval
