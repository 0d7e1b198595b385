#pragma once
// Writes an archive in the skyssl layout (docs/archive-format.md): `images` (N,C,H,W) float32,
// contiguous, plus 1-D fields and the bands / pixel_scale / survey attributes. In collective
// mode the file is opened with the MPI-IO driver on MPI_COMM_WORLD and every rank must make
// the same sequence of calls (a rank with nothing to write passes count 0). The bytes written
// depend only on the data, not on the number of ranks (no timestamps, early allocation).
// The archive appears at `path` complete or not at all (see close()).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace skyssl::data {

// Root attribute of every archive skyssl writes: 0 while it is written, 1 once close() wrote
// every row. An archive with 0 is refused; archives written by other tools have none.
inline constexpr const char* complete_attribute = "skyssl_complete";

enum class field_type { f32, f64, i32, i64 };

struct field_spec {
  std::string name;
  field_type type = field_type::f32;
};

struct writer_options {
  std::string path;
  std::int64_t count = 0;
  int channels = 0, height = 0, width = 0;
  std::vector<std::string> bands;
  double pixel_scale = 0.0;
  std::string survey;
  std::vector<field_spec> fields;
  bool collective = false;
};

class archive_writer {
 public:
  explicit archive_writer(const writer_options& options);
  ~archive_writer();
  archive_writer(const archive_writer&) = delete;
  archive_writer& operator=(const archive_writer&) = delete;

  // Rows [start, start + count) of `images`, count*C*H*W floats.
  void write_images(std::int64_t start, std::int64_t count, const float* data);
  // Rows of a field, `data` in the field's own type (float, double, int32_t, int64_t).
  void write_field(const std::string& name, std::int64_t start, std::int64_t count,
                   const void* data);
  // Marks the archive complete, closes it and renames it over `path` (collective); until then
  // it is a hidden temporary beside `path`. Destroyed without close() (an error, a stop
  // signal), the writer removes the temporary and leaves any existing `path` untouched.
  void close();

 private:
  writer_options opts_;
  struct handles;  // HDF5 ids, private to lib/data (detail/h5.hpp)
  std::unique_ptr<handles> h_;
  void write(int dataset, int rank, std::int64_t start, std::int64_t count, const void* data,
             const std::string& name);
};

}  // namespace skyssl::data
