#pragma once
// The one reader of embedding files (the format: embedding_file.hpp, docs/evaluation.md),
// for skyssl-eval and skyssl-search alike: root attributes `skyssl_embedding` = 1, `arch`,
// `source`, `model`, `weights`, `weights_digest`; datasets `/backbone` (N, D) and/or
// `/projection` (N, P) float32, raw (not normalised), row i = archive row i; 1-D numeric fields
// under `/fields/<name>`; `/progress/done` per chunk of rows (a file without /progress, written
// whole by another tool, counts as complete). Rows are read in caller-sized slabs, so a file of
// tens of millions of rows is never held in memory whole; or a whole space as one tensor.
#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "skyssl/embed/embedding_file.hpp"

namespace skyssl::embed {

class embedding_reader {
 public:
  // Opens and validates the file: the marker attribute, at least one embedding dataset, 2-D
  // float datasets, and every dataset and field of the same row count (data_error naming the
  // file and dataset otherwise).
  explicit embedding_reader(const std::filesystem::path& path);
  ~embedding_reader();
  embedding_reader(const embedding_reader&) = delete;
  embedding_reader& operator=(const embedding_reader&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::int64_t rows() const { return rows_; }
  // Attributes, dims and chunk_rows (0 without /progress) as the writer recorded them.
  const embedding_header& header() const { return header_; }
  const std::string& arch() const { return header_.arch; }
  const std::string& source() const { return header_.source; }
  // Chunks marked done in /progress/done (header().chunks() when there is no /progress).
  std::int64_t chunks_done() const;
  // data_error naming the file and how many chunks are written when some are not (skyssl-embed
  // was interrupted: run it again with the same --out).
  void require_complete() const;
  // "backbone" and/or "projection", as present.
  const std::vector<std::string>& spaces() const { return spaces_; }
  // Width of a space; data_error naming the file and the spaces it has when absent.
  int dim(const std::string& space) const;
  const std::vector<std::string>& fields() const { return fields_; }

  // The whole of `space` as (N, D) float32, after require_complete().
  torch::Tensor read_all(const std::string& space) const;
  // A field as a 1-D tensor: int64 for integer types up to 64 bits (uint64 above 2^63-1 is an
  // error naming the row), float64 or float32 for floats; data_error naming the fields there
  // are when absent.
  torch::Tensor column(const std::string& field) const;

  // Rows [start, start + count) of `space` into out (count * dim floats).
  void read(const std::string& space, std::int64_t start, std::int64_t count, float* out) const;
  // Rows 0, stride, 2 stride, ... (count of them) in one strided read: a training sample
  // spread over the whole file.
  void read_strided(const std::string& space, std::int64_t stride, std::int64_t count,
                    float* out) const;
  // Rows whose field equals `value`: integer fields compare as int64 (the text must be an
  // integer), floating ones as double. Reads the column in slabs. data_error naming the file
  // and the fields it has when the field is absent.
  std::vector<std::int64_t> find(const std::string& field, const std::string& value) const;
  // The value of a field at a row, as text (for reports).
  std::string field_text(const std::string& field, std::int64_t row) const;

 private:
  struct state;
  std::unique_ptr<state> s_;
  std::filesystem::path path_;
  std::int64_t rows_ = 0;
  std::uint64_t file_bytes_ = 0;  // the file's size: what its header may declare is bounded by it
  // The bytes it occupies on disk (holes not counted, at most file_bytes_): what is read whole
  // is bounded by it, so a file a few KB on disk with a sparse 80 GB extent is not allocated for.
  std::uint64_t stored_bytes_ = 0;
  embedding_header header_;
  std::vector<std::string> spaces_, fields_;
};

// One-call conveniences over embedding_reader.
embedding_header read_embedding_header(const std::string& path);
// (N, D) float32 of "backbone" or "projection" of a complete file.
torch::Tensor read_embeddings(const std::string& path, const std::string& which);
torch::Tensor read_field(const std::string& path, const std::string& name);
std::vector<std::string> field_names(const std::string& path);

}  // namespace skyssl::embed
