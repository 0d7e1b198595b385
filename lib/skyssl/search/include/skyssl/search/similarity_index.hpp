#pragma once
// Similarity search over L2-normalised representations (cosine = inner product), as the DECaLS
// study searched 42M+ galaxies: an exact index (FAISS IndexFlatIP) and approximate ones for tens
// of millions of rows (IVF over flat, 8-bit or product-quantised codes, optionally re-ranked;
// HNSW), built once, saved to a file and reloaded. Queries run in chunks so memory stays bounded
// by chunk * k.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace faiss {
struct Index;
}
namespace skyssl::search::detail {
class coarse_scorer;
}

namespace skyssl::search {

struct neighbours {
  std::int64_t k = 0;
  std::vector<std::int64_t> ids;  // (n_queries * k), row-major, best first
  std::vector<float> scores;      // cosine similarity, same layout
};

enum class index_kind {
  flat,      // exact: every stored row scored (IndexFlatIP); 4 * dim bytes a row
  ivf_flat,  // inverted lists over a k-means coarse quantiser, full rows in the lists
  ivf_sq8,   // the same with 8-bit scalar-quantised rows (dim bytes a row)
  ivf_pq,    // product-quantised rows (pq_m bytes a row), optionally re-ranked (`refine`)
  hnsw,      // graph over full rows; no training, large memory (~ (4 dim + 8 hnsw_m) bytes)
};

// "flat", "ivf-flat", "ivf-sq8", "ivf-pq", "hnsw"; config_error naming `what` and the choices.
index_kind parse_index_kind(const std::string& name, const std::string& what);
std::string to_string(index_kind kind);

struct index_options {
  index_kind kind = index_kind::flat;
  std::int64_t nlist = 0;  // IVF lists; 0 = automatic from the row count (auto_nlist)
  int pq_m = 0;            // ivf-pq sub-quantisers (8 bits each); 0 = dim / 4
  // ivf-pq: re-rank the PQ shortlist with a second copy of every row: "none", "sq8" (dim
  // bytes a row), "fp16" (2 dim) or "flat" (4 dim).
  std::string refine = "sq8";
  int hnsw_m = 32;  // hnsw: graph degree
};

// Search-time knobs (not saved with the index): IVF lists visited, HNSW queue size, and how
// many PQ candidates per wanted neighbour are re-ranked.
struct search_options {
  std::int64_t nprobe = 32;
  int ef_search = 128;
  int k_factor = 4;
};

// Power of two near 2 sqrt(rows), at most rows / 39 (FAISS wants >= 39 training rows a list).
std::int64_t auto_nlist(std::int64_t rows);
// The FAISS factory string for these options (e.g. "IVF4096,PQ32np,Refine(SQ8)").
std::string factory_string(const index_options& o, int dim, std::int64_t rows);

class similarity_index {
 public:
  // Exact inner-product index.
  explicit similarity_index(int dim);
  // An index of `o.kind`; `expected_rows` sizes the automatic IVF list count.
  similarity_index(int dim, const index_options& o, std::int64_t expected_rows);
  ~similarity_index();
  similarity_index(similarity_index&&) noexcept;
  similarity_index& operator=(similarity_index&&) noexcept;

  int dim() const { return dim_; }
  std::int64_t size() const;
  const std::string& description() const { return description_; }
  // Approximate kinds learn their quantisers from a sample of rows before the first add.
  bool needs_training() const;
  // Rows the training wants (39 per IVF list, at least 256 per PQ centroid set; 0 = none).
  std::int64_t training_rows_wanted() const;
  // Learns from n rows (L2-normalised here); error when fewer than the quantisers need.
  void train(const float* rows, std::int64_t n);
  // Adds n rows of dim floats; each row is L2-normalised on the way in (a zero row is an
  // error naming its position).
  void add(const float* rows, std::int64_t n);
  void set_search_options(const search_options& s);
  // k nearest stored rows for each of n query rows (normalised here too), in chunks of
  // chunk_rows queries.
  neighbours search(const float* queries, std::int64_t n, std::int64_t k,
                    std::int64_t chunk_rows = 1 << 20) const;

  // The IVF lists visited by search() (0 for an index without lists) and how many there are.
  std::int64_t nprobe() const;
  std::int64_t nlist() const;
  // Whether search_nprobe() works: an IVF index not wrapped in a re-ranking (FAISS takes
  // per-query parameters only there).
  bool takes_nprobe_per_query() const;
  // As search(), visiting `nprobe` lists (clamped to [1, nlist]) for these queries only:
  // safe beside other searches, unlike set_search_options. config_error when
  // !takes_nprobe_per_query().
  neighbours search_nprobe(const float* queries, std::int64_t n, std::int64_t k,
                           std::int64_t nprobe) const;

  // Writes the index to `path` (a temporary next to it, then renamed: no half-written file).
  void save(const std::filesystem::path& path) const;
  // Reads a file written by save(); error naming the file when it is not a FAISS index or
  // not an inner-product one.
  static similarity_index load(const std::filesystem::path& path);

 private:
  similarity_index() = default;
  // After the coarse quantiser is known (trained or loaded): the vectorised coarse step for
  // searches of a few queries (detail/coarse_scorer.hpp), when the index is a plain IVF.
  void prepare_coarse_scorer();
  // n queries (normalised) against a plain IVF index through coarse_; false (nothing done)
  // when FAISS's own search applies: no scorer, or enough queries for its BLAS path.
  bool search_few(const float* queries, std::int64_t n, std::int64_t k, std::int64_t nprobe,
                  float* scores, std::int64_t* ids) const;
  int dim_ = 0;
  std::string description_;
  std::unique_ptr<faiss::Index> index_;
  std::unique_ptr<detail::coarse_scorer> coarse_;
};

// Normalises rows in place; throws data_error naming the first zero or non-finite row.
void l2_normalise_rows(std::vector<float>& rows, int dim, std::int64_t first_row_id = 0);
void l2_normalise_rows(float* rows, std::int64_t n, int dim, std::int64_t first_row_id = 0);

}  // namespace skyssl::search
