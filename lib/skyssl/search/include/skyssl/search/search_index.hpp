#pragma once
// A similarity index over one embedding space of an embedding file, with what it was built
// from: built once (a training sample strided over the whole file, then every row in slabs),
// saved as the FAISS file plus a JSON sidecar (`<index>.json`: embedding file, space, rows,
// dim, factory string), and reloaded with those checked against the embedding file at hand.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include "skyssl/embed/embedding_reader.hpp"
#include "skyssl/search/similarity_index.hpp"

namespace skyssl::search {

struct index_build_options {
  index_options index;
  std::int64_t slab_rows = 1 << 18;  // rows read and added at a time
  std::int64_t train_rows = 0;       // training sample; 0 = what the index wants
};

// "backbone" when the file has it, else "projection"; a given name must exist.
std::string choose_space(const embed::embedding_reader& e, const std::string& requested);

class search_index {
 public:
  // Called after each slab with (rows added, rows in all).
  using progress = std::function<void(std::int64_t, std::int64_t)>;
  static search_index build(const embed::embedding_reader& e, const std::string& space,
                            const index_build_options& o, const progress& report = {});
  // Loads `path` and checks that it indexes `space` of `e`: same dimension and row count
  // (data_error naming both files otherwise: rebuild with --rebuild).
  static search_index load(const std::filesystem::path& path, const embed::embedding_reader& e,
                           const std::string& space);
  void save(const std::filesystem::path& path) const;

  similarity_index& index() { return index_; }
  const similarity_index& index() const { return index_; }
  const std::string& space() const { return space_; }
  std::int64_t rows() const { return index_.size(); }
  double build_seconds() const { return build_seconds_; }

 private:
  search_index(similarity_index idx, std::string space, std::filesystem::path source)
      : index_(std::move(idx)), space_(std::move(space)), source_(std::move(source)) {}
  similarity_index index_;
  std::string space_;
  std::filesystem::path source_;
  double build_seconds_ = 0;
};

// An index opened for a tool: the one saved at `path` when there is one (and not `rebuild`),
// else one built over `space` of `e` (`built`: the caller saves it where it wants). Logs which,
// with the index's description or the one it builds.
struct opened_index {
  search_index index;
  bool built = false;
};
opened_index open_index(const std::filesystem::path& path, const embed::embedding_reader& e,
                        const std::string& space, const index_build_options& o,
                        bool rebuild = false, const search_index::progress& report = {});

}  // namespace skyssl::search
