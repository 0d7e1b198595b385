#pragma once
// Reads an embedding file written by skyssl-embed (docs/search-and-export.md): one HDF5 file,
// root attributes `skyssl_embedding` = 1, `arch`, `source`; datasets `/backbone` (N, D) and/or
// `/projection` (N, 128) float32, raw (not normalised), row i = archive row i; id fields as 1-D
// datasets under `/fields/<name>`. Rows are read in caller-sized slabs, so a file of tens of
// millions of rows is never held in memory whole.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace skyssl::eval {

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
  const std::string& arch() const { return arch_; }
  const std::string& source() const { return source_; }
  // "backbone" and/or "projection", as present.
  const std::vector<std::string>& spaces() const { return spaces_; }
  // Width of a space; data_error naming the file and the spaces it has when absent.
  int dim(const std::string& space) const;
  const std::vector<std::string>& fields() const { return fields_; }

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
  std::string arch_, source_;
  std::vector<std::string> spaces_, fields_;
};

}  // namespace skyssl::eval
