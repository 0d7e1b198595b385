#pragma once
// The embedding file (docs/evaluation.md): one HDF5 file holding a frozen encoder's
// representations of every row of an archive, in the archive's order.
//   root attributes  skyssl_embedding = 1 (int), arch (string), source (archive path string),
//                    model (the full model description), weights (the weights file),
//                    weights_digest
//   /backbone        (N, D) float32, raw pooled backbone features (not normalised)
//   /projection      (N, P) float32, raw projection-head outputs (not normalised)
//   /fields/<name>   (N) the archive's 1-D fields, same names and HDF5 types
//   /progress/done   (ceil(N / chunk_rows)) uint8, 1 where that chunk of rows is written;
//                    attribute chunk_rows on /progress
// Written by skyssl-embed on any number of ranks (MPI-IO driver, independent raw writes, one
// chunk of rows per write); read by skyssl-eval and skyssl-search through embedding_reader.hpp.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace skyssl::embed {

struct embedding_header {
  std::string arch;    // "resnet18"
  std::string model;   // e.g. "resnet18 width=16 in_channels=3 stem=standard head=128"
  std::string source;  // archive path(s), joined by ','
  std::string weights;
  std::string weights_digest;  // of the weights file's bytes (weights_digest())
  std::int64_t rows = 0;
  std::int64_t backbone_dim = 0;    // 0: no /backbone
  std::int64_t projection_dim = 0;  // 0: no /projection
  std::int64_t chunk_rows = 0;
  // Rounded up without rows + chunk_rows - 1, which overflows for a hostile chunk_rows.
  std::int64_t chunks() const {
    return chunk_rows > 0 ? rows / chunk_rows + (rows % chunk_rows != 0 ? 1 : 0) : 0;
  }
};

// A 1-D field to copy: its name and the HDF5 file type in the archive (an hid_t, kept opaque
// here so that hdf5.h stays out of this header).
struct field_column {
  std::string name;
  std::int64_t type_id = -1;  // owned by the caller (see archive_fields)
};

class embedding_writer {
 public:
  // Creates `path`, or reopens it to resume when it already holds an embedding of the same
  // header (same model, source, rows, dims, chunk_rows and fields; anything else is a
  // data_error naming the file and what differs). collective: every rank of MPI_COMM_WORLD
  // makes this call (MPI-IO driver); raw writes are then independent.
  embedding_writer(const std::string& path, const embedding_header& header,
                   const std::vector<field_column>& fields, bool collective);
  ~embedding_writer();
  embedding_writer(const embedding_writer&) = delete;
  embedding_writer& operator=(const embedding_writer&) = delete;

  const embedding_header& header() const { return header_; }
  bool resumed() const { return resumed_; }
  // Per chunk, true where the file records it as written.
  std::vector<bool> done_chunks() const;
  // Writes chunk c's rows: backbone (m, D) and/or projection (m, P) float32 (nullptr where
  // the header has no such dataset), one buffer per field in its native memory type, then
  // marks the chunk done. Independent: any rank, any order.
  void write_chunk(std::int64_t chunk, const float* backbone, const float* projection,
                   const std::vector<const void*>& field_rows);
  // Collective when opened collectively.
  void close();

 private:
  struct state;
  std::string path_;
  embedding_header header_;
  bool resumed_ = false;
  std::unique_ptr<state> s_;
};

// What makes `found` another embedding than `wanted` (model, weights digest, source, rows,
// dims, chunk_rows), "" when it is the same.
std::string difference(const embedding_header& found, const embedding_header& wanted);

}  // namespace skyssl::embed
