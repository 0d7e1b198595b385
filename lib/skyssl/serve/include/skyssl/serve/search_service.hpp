#pragma once
// What skyssl-serve holds for its lifetime and answers from: the embedding file (query rows),
// its FAISS index (loaded, or built and saved, as skyssl-search does), the id fields in memory,
// the sky index over ra/dec, the run's encoder for uploaded cutouts, and the archive for tiles.
// Every member answering a request is const and safe from any number of threads; a request it
// cannot answer is an http_error naming the parameter at fault.
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "kernels/augment_config.hpp"
#include "skyssl/search/search_index.hpp"
#include "skyssl/serve/request_params.hpp"

namespace skyssl::data {
class archive;
}
namespace skyssl::embed {
class embedding_reader;
class cutout_embedder;
}  // namespace skyssl::embed

namespace skyssl::serve {

class field_table;
class sky_index;

// Bounds on what one request may ask for.
struct request_limits {
  std::int64_t max_k = 100;
  std::int64_t max_candidates = 20000;  // rows searched to fill k after filters and exclusion
  int max_filters = 8;
  int max_tile_px = 512;
  double max_radius_arcsec = 3600;
  std::int64_t max_upload_values = 4 << 20;  // floats in an uploaded cutout (16 MiB)
  int max_upload_images = 16;
};

struct service_options {
  std::filesystem::path run_dir;     // its encoder embeds uploads; optional
  std::filesystem::path embeddings;  // default: run_dir/embeddings.h5
  std::filesystem::path index;       // loaded when it exists, else built and saved there
  std::vector<std::string> archive;  // tiles; default: the embedding file's source
  std::string space;                 // default: backbone when present
  search::index_build_options build;
  search::search_options search;  // nprobe etc. when a request gives none
  request_limits limits;
  std::int64_t default_k = 12;
  double default_exclude_arcsec = 25;  // the published app drops neighbours this close
  double default_radius_arcsec = 10;   // a position farther from every galaxy finds none
};

using query_params = std::multimap<std::string, std::string>;

// A neighbour query, validated.
struct neighbour_query {
  std::string label;      // "row 17", "objid=123 (row 17)", "ra=.. dec=..", "upload"
  std::int64_t row = -1;  // the query galaxy's row; -1 for an upload
  std::optional<double> asked_ra, asked_dec, separation_arcsec;  // a position query
  std::vector<float> vector;                                     // raw query vector
  std::int64_t k = 12;
  std::int64_t nprobe = 0;  // 0: the index's own
  double exclude_within_arcsec = 0;
  std::vector<std::pair<int, value_range>> filters;  // field index, range
  bool csv = false;
};

struct neighbour_result {
  std::vector<std::int64_t> rows;
  std::vector<float> cosine;
  std::int64_t candidates = 0;  // rows the index returned to fill k
};

class search_service {
 public:
  explicit search_service(const service_options& o);
  ~search_service();

  nlohmann::json info() const;
  // GET /api/neighbours parameters: row | id=FIELD:VALUE | ra & dec [radius_arcsec], k, space,
  // nprobe, exclude_within_arcsec, format, and FIELD=lo:hi range filters.
  neighbour_query parse_query(const query_params& p) const;
  // The same parameters without a galaxy (POST: the upload is the query), and its vector.
  neighbour_query parse_upload_query(const query_params& p, const std::string& body,
                                     const std::string& content_type) const;
  neighbour_result neighbours(const neighbour_query& q) const;
  nlohmann::json to_json(const neighbour_query& q, const neighbour_result& r) const;
  std::string to_csv(const neighbour_query& q, const neighbour_result& r) const;
  // POST /api/embed: {"space", "dim", "vectors": [[...], ...]} (raw, as the embedding file).
  nlohmann::json embed(const std::string& body, const std::string& content_type,
                       const query_params& p) const;
  // GET /api/tile/ROW.png?size=&stretch=: the PNG bytes.
  std::string tile(const std::string& row_text, const query_params& p) const;

  const service_options& options() const { return o_; }
  std::int64_t rows() const;
  // Resident bytes of what the service holds besides the index (fields, sky index).
  std::size_t table_bytes() const;

 private:
  std::vector<float> row_vector(std::int64_t row) const;
  std::vector<float> upload_vectors(const std::string& body, const std::string& content_type,
                                    std::int64_t& count) const;

  service_options o_;
  std::unique_ptr<embed::embedding_reader> e_;
  std::unique_ptr<search::search_index> index_;
  std::unique_ptr<field_table> fields_;
  int ra_field_ = -1, dec_field_ = -1;
  std::unique_ptr<sky_index> sky_;
  std::unique_ptr<embed::cutout_embedder> embedder_;
  std::unique_ptr<data::archive> archive_;
  kernels::augment_config display_;  // the tiles' crop and stretch
  std::filesystem::path upload_dir_;
  double load_seconds_ = 0;
};

}  // namespace skyssl::serve
