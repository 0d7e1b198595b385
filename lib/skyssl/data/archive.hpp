#pragma once
// A survey archive: `images` (N,C,H,W) plus 1-D per-object fields, in one HDF5 file or an
// ordered list of files read as one concatenation (global row = row in the concatenation).
// See docs/archive-format.md for the layout, the field names and the attribute rules.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace skyssl {
class config;
}

namespace skyssl::data {

struct archive_options {
  // A file, a glob ("shards/train-*.h5", expanded and sorted), or "@list.txt" (one path a
  // line, relative to the list file; blank lines and '#' comments skipped).
  std::vector<std::string> paths;
  std::string images = "images";  // name of the image dataset
  // canonical field name -> dataset name in the files, e.g. {"ebv", "e_bv"}.
  std::map<std::string, std::string> fields;
  // Fallbacks used only when the files carry no such attribute (see archive-format.md).
  std::vector<std::string> bands;
  double pixel_scale = 0.0;  // arcsec per pixel; 0 = not given
  std::string survey;        // "decals", "sdss" or "" (then inferred from the channel count)
};

// Expands files, globs and @listfiles into the ordered file list (archive_error if none).
std::vector<std::string> resolve_paths(const std::vector<std::string>& specs);

// One dataset found in a file (for inspect and for messages).
struct dataset_info {
  std::string name;
  std::string dtype;
  std::vector<std::int64_t> shape;
};

struct file_info {
  std::string path;
  std::int64_t rows = 0;
  std::int64_t first_row = 0;  // global id of its first row
  std::string image_dtype;
  std::vector<dataset_info> datasets;  // every dataset in the root group
};

// Opens every file once, validates shapes, dtypes and field lengths, and reads rows of the
// concatenation. All members are safe to call from any thread (they hold lib/data's HDF5
// lock); errors are archive_error naming the file and dataset.
class archive {
 public:
  explicit archive(const archive_options& options);
  ~archive();
  archive(const archive&) = delete;
  archive& operator=(const archive&) = delete;

  std::int64_t size() const { return size_; }
  int channels() const { return channels_; }
  int height() const { return height_; }
  int width() const { return width_; }
  const std::vector<std::string>& bands() const { return bands_; }
  double pixel_scale() const { return pixel_scale_; }
  const std::string& survey() const { return survey_; }
  const std::vector<file_info>& files() const { return infos_; }
  // Index into files() holding global row `row`.
  int file_of(std::int64_t row) const;

  // Dataset name of a canonical field ("ebv", "psfsize_g", "z_spec", ...) or "" if absent.
  // An explicit mapping in archive_options::fields must exist (else archive_error); without
  // one the canonical name itself and its known aliases (ebv: e_bv; z_spec: specz_redshift)
  // are tried in turn.
  std::string field_dataset(const std::string& canonical) const;

  // Rows [start, start + count) of the concatenation, as float32 (converted from float16,
  // float64 or uint16 by HDF5), count*C*H*W values into out.
  void read_images(std::int64_t start, std::int64_t count, float* out) const;
  // The given sorted, distinct global rows: neighbouring ids are coalesced into runs, one
  // hyperslab read per run. Rows land in out in the order of `sorted_rows`.
  void read_images_rows(const std::vector<std::int64_t>& sorted_rows, float* out) const;
  // A 1-D dataset (by its name in the files) for the same kinds of row sets, as double.
  void read_column(const std::string& dataset, std::int64_t start, std::int64_t count,
                   double* out) const;
  void read_column_rows(const std::string& dataset, const std::vector<std::int64_t>& sorted_rows,
                        double* out) const;

 private:
  struct file_state;
  std::vector<std::unique_ptr<file_state>> files_;
  std::vector<file_info> infos_;
  std::map<std::string, std::string> field_map_;
  std::string images_name_;
  std::int64_t size_ = 0;
  int channels_ = 0, height_ = 0, width_ = 0;
  std::vector<std::string> bands_;
  double pixel_scale_ = 0.0;
  std::string survey_;
  void read_rows(const std::string& dataset, bool images, const std::vector<std::int64_t>& rows,
                 void* out) const;
};

}  // namespace skyssl::data
