#pragma once
// The 1-D per-object fields of an archive (objid, ra, dec, z_spec, ...) read in their own
// HDF5 types, so that skyssl-embed copies them into the embedding file bit for bit (a 64-bit
// objid through a double would lose digits). Files are opened read-only on the calling thread.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "skyssl/data/archive.hpp"
#include "skyssl/embed/embedding_file.hpp"

namespace skyssl::embed {

class archive_fields {
 public:
  // Every numeric 1-D dataset of the archive's root group except the images, or only `names`
  // when given (a name missing from a file is a data_error naming the file and the field).
  archive_fields(const data::archive& archive, const std::vector<std::string>& names = {});
  ~archive_fields();
  archive_fields(const archive_fields&) = delete;
  archive_fields& operator=(const archive_fields&) = delete;

  // Name and HDF5 file type of each field, for embedding_writer (types owned by this object).
  const std::vector<field_column>& columns() const { return columns_; }
  // Bytes per row of field i in its native memory type.
  std::size_t row_bytes(std::size_t i) const;
  // Rows [start, start + count) of every field; out[i] gets count * row_bytes(i) bytes.
  void read(std::int64_t start, std::int64_t count, std::vector<std::vector<char>>& out) const;

 private:
  struct state;
  std::unique_ptr<state> s_;
  std::vector<field_column> columns_;
};

}  // namespace skyssl::embed
