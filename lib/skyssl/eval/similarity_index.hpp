#pragma once
// Similarity search over L2-normalised representations: exact inner-product k-NN (FAISS
// IndexFlatIP), as the DECaLS study searched 42M+ galaxies. Queries run in chunks so memory
// stays bounded by chunk * k.
#include <cstdint>
#include <memory>
#include <vector>

namespace faiss {
struct IndexFlatIP;
}

namespace skyssl::eval {

struct neighbours {
  std::int64_t k = 0;
  std::vector<std::int64_t> ids;  // (n_queries * k), row-major, best first
  std::vector<float> scores;      // cosine similarity, same layout
};

class similarity_index {
 public:
  explicit similarity_index(int dim);
  ~similarity_index();
  similarity_index(similarity_index&&) noexcept;
  similarity_index& operator=(similarity_index&&) noexcept;

  int dim() const { return dim_; }
  std::int64_t size() const;
  // Adds n rows of dim floats; each row is L2-normalised on the way in (a zero row is an
  // error naming its position).
  void add(const float* rows, std::int64_t n);
  // k nearest stored rows for each of n query rows (normalised here too), in chunks of
  // chunk_rows queries.
  neighbours search(const float* queries, std::int64_t n, std::int64_t k,
                    std::int64_t chunk_rows = 1 << 20) const;

 private:
  int dim_;
  std::unique_ptr<faiss::IndexFlatIP> index_;
};

// Normalises rows in place; throws data_error naming the first zero or non-finite row.
void l2_normalise_rows(std::vector<float>& rows, int dim, std::int64_t first_row_id = 0);

}  // namespace skyssl::eval
