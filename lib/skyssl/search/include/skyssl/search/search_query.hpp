#pragma once
// What skyssl-search is asked: galaxies given by embedding-file row, by id field value
// ("objid=123"), or by a cutout file embedded on the fly with a run's encoder, resolved into
// query vectors of the index's space; and the answer as JSON.
#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "skyssl/embed/embedding_reader.hpp"
#include "skyssl/search/similarity_index.hpp"

namespace skyssl::search {

struct query_request {
  std::vector<std::int64_t> rows;
  std::vector<std::string> ids;   // "field=value"
  std::filesystem::path cutout;   // FITS or HDF5 (embed::read_cutout)
  std::filesystem::path run_dir;  // the run whose encoder embeds the cutout
};

struct query_set {
  std::vector<std::string> labels;  // "row 17", "objid=123 (row 17)", "c.fits[0]"
  std::vector<std::int64_t> rows;   // embedding-file row, -1 for a cutout
  std::vector<float> vectors;       // (size, dim), raw
  torch::Tensor cutouts;            // (number of cutout queries, C, H, W), for the gallery
  std::int64_t size() const { return static_cast<std::int64_t>(rows.size()); }
};

// Errors name the culprit: a row outside the file, an id field the file lacks or a value no
// row has, a cutout the run's encoder cannot take, or a run of another architecture or
// dimension than the embedding file's.
query_set resolve_queries(const query_request& r, const embed::embedding_reader& e,
                          const std::string& space);

// {"index", "space", "k", "queries": [{"query", "row", "neighbours": [{"row", "score",
// <field>: value ...}]}]}, every id field of the file next to each neighbour.
nlohmann::json search_report(const query_set& q, const neighbours& nn, const embed::embedding_reader& e,
                             const std::string& index_description, const std::string& space);

}  // namespace skyssl::search
