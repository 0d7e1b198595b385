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

// Bands written as one text, as a file's 'bands' attribute or `skyssl-prep synth --bands`
// give them: "g,r,z", "g r z" or "grz". A single word is split into letters when it has
// `channels` of them, or (channels = 0) whenever it has more than one.
std::vector<std::string> split_bands(const std::string& text, int channels = 0);

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
  // Read rows with pread(2) at their file offsets where the layout allows (contiguous, or
  // unfiltered chunks of whole rows); false: always through HDF5 selections (data.direct_reads).
  bool direct_reads = true;
  // Follow HDF5 external links, external raw storage and virtual datasets (data.allow_external).
  // Off by default: they let a file from someone else read any local file as pixels.
  bool allow_external = false;
};

// Expands files, globs and @listfiles into the ordered file list (archive_error if none).
std::vector<std::string> resolve_paths(const std::vector<std::string>& specs);

// One dataset found in a file (for inspect and for messages).
struct dataset_info {
  std::string name;
  std::string dtype;
  std::vector<std::int64_t> shape;
  std::string layout;  // "contiguous", "chunks 64x3x152x152", "chunks 64x3x152x152, deflate"
};

struct file_info {
  std::string path;
  std::int64_t rows = 0;
  std::int64_t first_row = 0;  // global id of its first row
  std::string image_dtype;
  std::vector<dataset_info> datasets;  // every dataset in the root group
  // How `images` is read: "direct (contiguous)", "direct (chunks of 64 rows)", or
  // "HDF5 selections: <reason>" (compressed data, odd layouts, data.direct_reads = false).
  std::string images_read;
};

// What a read of image rows met: non-finite (NaN/Inf) pixels, and where the first one is.
struct pixel_report {
  std::int64_t nonfinite = 0;     // pixels
  std::int64_t bad_rows = 0;      // rows with at least one
  std::int64_t first_row = -1;    // global row of the first one (lowest row), -1 if none
  std::int64_t first_pixel = -1;  // its index within the row (c*H*W + y*W + x)
  void merge(const pixel_report& o);
};

// Opens every file once, validates shapes, dtypes and field lengths, and reads rows of the
// concatenation. Rows whose layout allows it are read with pread(2) at their file offsets, in
// parallel from any number of threads; the rest go through HDF5 selections under lib/data's
// HDF5 lock (the reason is logged once per archive). A file whose datasets are all read
// directly keeps only a file descriptor open, so archives of hundreds of files stay within
// the process's limits. All members are safe to call from any thread; errors are
// archive_error naming the file and dataset.
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

  // Rows [start, start + count) of the concatenation, as float32 (decoded from float16,
  // float64 or uint16), count*C*H*W values into out; non-finite pixels are left as they are.
  pixel_report read_images(std::int64_t start, std::int64_t count, float* out) const;
  // The given sorted, distinct global rows, in the order of `sorted_rows`.
  pixel_report read_images_rows(const std::vector<std::int64_t>& sorted_rows, float* out) const;
  // The core read: sorted, distinct rows[k] (k < n) into dst[k] (C*H*W floats each, anywhere).
  // Decoding and the non-finite count happen in the same pass over each row; with
  // zero_nonfinite those pixels are set to 0. Neighbouring rows with neighbouring
  // destinations are read in one call. `bad_rows` (if given) gets each row with a non-finite
  // pixel appended.
  pixel_report read_images_into(const std::int64_t* rows, std::size_t n, float* const* dst,
                                bool zero_nonfinite,
                                std::vector<std::int64_t>* bad_rows = nullptr) const;
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
  struct column_state;
  column_state& column(std::size_t file, const std::string& dataset) const;
  void open_images(std::size_t file) const;  // reopens a released HDF5 file (lock held)
  void read_images_hdf5(std::size_t file, const std::int64_t* rows, std::size_t n,
                        float* const* dst) const;
  void read_column_hdf5(std::size_t file, const std::string& dataset, const std::int64_t* rows,
                        std::size_t n, double* out) const;
};

}  // namespace skyssl::data
