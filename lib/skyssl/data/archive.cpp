#include "skyssl/data/archive.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <glob.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "skyssl/core/error.hpp"
#include "skyssl/core/log.hpp"
#include "skyssl/core/stored_bytes.hpp"
#include "skyssl/core/surveys.hpp"
#include "skyssl/data/detail/decode.hpp"
#include "skyssl/data/detail/direct_rows.hpp"
#include "skyssl/data/h5.hpp"
#include "skyssl/data/writer.hpp"

namespace fs = std::filesystem;

namespace skyssl::data {

std::vector<std::string> split_bands(const std::string& text, int channels) {
  std::vector<std::string> split;
  std::string cur;
  for (char ch : text) {
    if (ch == ',' || ch == ' ') {
      if (!cur.empty()) split.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(ch);
    }
  }
  if (!cur.empty()) split.push_back(cur);
  const bool letters =
      split.size() == 1 &&
      (channels > 0 ? static_cast<int>(split[0].size()) == channels : split[0].size() > 1);
  if (letters) {
    std::vector<std::string> chars;
    for (char ch : split[0]) chars.emplace_back(1, ch);
    split = chars;
  }
  return split;
}

// A 1-D field of one file: read directly when its layout allows, else through HDF5.
struct archive::column_state {
  h5::handle dset;                              // open while HDF5 is needed
  std::unique_ptr<detail::direct_rows> direct;  // null: HDF5 selections
};

namespace {
// Why files' images are read through HDF5 selections: reason -> (files, the first of them).
using fallback_counts = std::map<std::string, std::pair<int, std::string>>;
}  // namespace

struct archive::file_state {
  std::string path;
  int fd = -1;        // for direct reads; kept for the archive's lifetime
  h5::handle file;    // released when every dataset is read directly (bounded handles)
  h5::handle images;  // idem
  std::unique_ptr<detail::direct_rows> images_direct;            // null: HDF5 selections
  std::map<std::string, std::unique_ptr<column_state>> columns;  // every 1-D dataset
  ~file_state() {
    if (fd >= 0) ::close(fd);
  }
  // Opens the file for direct reads and finds where the images' rows lie; returns how the
  // images are read (file_info::images_read) and counts a fallback to HDF5 in `fallbacks`.
  std::string open_direct_images(const std::string& images_name, fallback_counts& fallbacks);
  // Opens every 1-D dataset but the images as a column, read directly where its layout allows.
  void open_columns(const std::vector<dataset_info>& datasets, const std::string& images_name,
                    bool direct_reads);
  // Every dataset is read directly from contiguous storage.
  bool all_contiguous() const;
  // Closes the HDF5 handles: only the descriptor is needed from now on.
  void release_hdf5();
};

void pixel_report::merge(const pixel_report& o) {
  if (o.first_row >= 0 && (first_row < 0 || o.first_row < first_row)) {
    first_row = o.first_row;
    first_pixel = o.first_pixel;
  }
  nonfinite += o.nonfinite;
  bad_rows += o.bad_rows;
}

namespace {

struct survey_preset {
  const char* name;
  int channels;
  std::vector<std::string> bands;
  double pixel_scale;
};

const std::vector<survey_preset>& presets() {
  static const std::vector<survey_preset> p = [] {
    std::vector<survey_preset> out;
    for (const auto* s : surveys::all) {
      std::vector<std::string> bands;
      for (int b = 0; b < s->band_count; ++b) bands.emplace_back(s->bands[b].name);
      out.push_back({s->name, s->band_count, bands, s->pixel_scale});
    }
    return out;
  }();
  return p;
}

const std::map<std::string, std::vector<std::string>>& aliases() {
  static const std::map<std::string, std::vector<std::string>> a = {
      {"ebv", {"e_bv"}}, {"z_spec", {"specz_redshift"}}, {"objid", {"ObjID"}}};
  return a;
}

std::string shape_str(const std::vector<std::int64_t>& s) {
  return fmt::format("{}", fmt::join(s, "x"));
}

std::vector<std::int64_t> dataset_shape(hid_t dset) {
  h5::handle space(H5Dget_space(dset));
  const int rank = H5Sget_simple_extent_ndims(space.get());
  std::vector<hsize_t> dims(static_cast<std::size_t>(std::max(rank, 0)));
  if (rank > 0) H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  return {dims.begin(), dims.end()};
}

bool accepted_image_type(hid_t type) {
  const auto cls = H5Tget_class(type);
  const auto size = H5Tget_size(type);
  if (cls == H5T_FLOAT) return size == 2 || size == 4 || size == 8;
  if (cls == H5T_INTEGER) return size == 2 && H5Tget_sign(type) == H5T_SGN_NONE;
  return false;
}

std::string layout_of(hid_t dset) {
  h5::handle dcpl(H5Dget_create_plist(dset));
  switch (H5Pget_layout(dcpl.get())) {
    case H5D_CONTIGUOUS:
      return "contiguous";
    case H5D_COMPACT:
      return "compact";
    case H5D_VIRTUAL:
      return "virtual";
    case H5D_CHUNKED: {
      const int rank = H5Pget_chunk(dcpl.get(), 0, nullptr);
      std::vector<hsize_t> c(static_cast<std::size_t>(std::max(rank, 0)));
      if (rank > 0) H5Pget_chunk(dcpl.get(), rank, c.data());
      std::string out = fmt::format("chunks {}", fmt::join(c, "x"));
      const int nf = H5Pget_nfilters(dcpl.get());
      for (int i = 0; i < nf; ++i) {
        char name[64] = {0};
        unsigned flags = 0, cd[8];
        std::size_t ncd = 8;
        H5Pget_filter2(dcpl.get(), static_cast<unsigned>(i), &flags, &ncd, cd, sizeof name, name,
                       nullptr);
        out += fmt::format(", {}", name[0] ? name : "filter");
      }
      return out;
    }
    default:
      return "unknown";
  }
}

// Where a dataset's bytes live, when not in this file: "" if they are in it.
std::string external_storage(hid_t dset) {
  h5::handle dcpl(H5Dget_create_plist(dset));
  if (H5Pget_layout(dcpl.get()) == H5D_VIRTUAL)
    return "it is a virtual dataset (data from other files)";
  if (H5Pget_external_count(dcpl.get()) > 0) return "its raw data is stored in external files";
  return "";
}

// The root group's datasets. External links, external raw storage and virtual datasets read
// other local files: refused unless `allow_external` (data.allow_external = true).
std::vector<dataset_info> list_datasets(hid_t file, const std::string& path, bool allow_external) {
  struct link {
    std::string name;
    H5L_type_t type;
  };
  std::vector<link> links;
  auto cb = [](hid_t, const char* name, const H5L_info_t* info, void* data) -> herr_t {
    static_cast<std::vector<link>*>(data)->push_back({name, info->type});
    return 0;
  };
  h5::check_status(H5Literate(file, H5_INDEX_NAME, H5_ITER_INC, nullptr, cb, &links),
                   fmt::format("archive file '{}': cannot list its datasets", path));
  std::vector<dataset_info> out;
  for (const auto& [n, type] : links) {
    // A soft link may lead through an external link in a group: only hard links are safe.
    if (type != H5L_TYPE_HARD && !allow_external)
      throw archive_error(fmt::format(
          "archive file '{}': '{}' is {} link, which can lead to another file; refused unless "
          "data.allow_external = true",
          path, n, type == H5L_TYPE_SOFT ? "a soft" : "an external"));
    H5O_info_t oi;
    if (H5Oget_info_by_name(file, n.c_str(), &oi, H5P_DEFAULT) < 0 || oi.type != H5O_TYPE_DATASET)
      continue;
    h5::handle d(H5Dopen2(file, n.c_str(), H5P_DEFAULT));
    if (!d) continue;
    if (const auto where = external_storage(d.get()); !where.empty() && !allow_external)
      throw archive_error(fmt::format(
          "archive file '{}': dataset '{}': {}; refused unless data.allow_external = true", path, n,
          where));
    h5::handle t(H5Dget_type(d.get()));
    out.push_back({n, h5::type_name(t.get()), dataset_shape(d.get()), layout_of(d.get())});
  }
  return out;
}

// The image shape in 64 bits, checked before anything is sized from it: C, H, W at least 1
// and in int range; a row's pixels within what the file could hold (its bytes times deflate's
// largest ratio, ~1032:1); rows at most 64 per byte of the file (an archive whose chunks are
// not all written may declare more rows than it stores, but not 2^62 from a few kilobytes:
// per-row bookkeeping of the tools stays proportional to the file). `file_bytes` is what the
// file stores on disk, so a sparse file's holes (`truncate -s 1T`) buy it nothing.
void check_image_shape(const std::vector<std::int64_t>& shape, std::uint64_t file_bytes,
                       const std::string& path, const std::string& name) {
  auto bad = [&](const std::string& why) {
    return archive_error(fmt::format("archive file '{}': dataset '{}' has shape {}: {}", path, name,
                                     fmt::format("{}", fmt::join(shape, "x")), why));
  };
  constexpr std::int64_t max_dim = 2147483647;
  for (std::size_t k = 1; k < 4; ++k)
    if (shape[k] < 1 || shape[k] > max_dim)
      throw bad("channels, height and width must each be between 1 and 2^31-1");
  std::uint64_t pixels = 1;
  for (std::size_t k = 1; k < 4; ++k)
    if (__builtin_mul_overflow(pixels, static_cast<std::uint64_t>(shape[k]), &pixels))
      throw bad("a row's pixel count overflows 64 bits");
  constexpr std::uint64_t max_ratio = 1100;
  if (pixels > std::max<std::uint64_t>(file_bytes, 1) * max_ratio)
    throw bad(
        fmt::format("a row of {} pixels cannot come from a file of {} bytes", pixels, file_bytes));
  const auto rows = static_cast<std::uint64_t>(shape[0]);
  std::uint64_t total = 0;
  if (__builtin_mul_overflow(rows, pixels, &total) || total > (std::uint64_t{1} << 62) ||
      rows / 64 > file_bytes)
    throw bad(fmt::format("{} rows is absurd for a file of {} bytes", rows, file_bytes));
}

// Raises the soft limit on open files towards the hard one when an archive needs more.
void ensure_file_limit(std::size_t files, const std::string& first) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  const rlim_t need = static_cast<rlim_t>(files) + 256;  // one fd each, plus HDF5 and MPI
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
    rlimit raised = rl;
    raised.rlim_cur = rl.rlim_max == RLIM_INFINITY ? need : std::min(need, rl.rlim_max);
    setrlimit(RLIMIT_NOFILE, &raised);
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < need)
      throw archive_error(fmt::format(
          "archive '{}...' has {} files but this process may open only {} (ulimit -n); raise "
          "the limit or merge files",
          first, files, static_cast<unsigned long long>(rl.rlim_cur)));
  }
}

// The HDF5 file at `path`, opened read-only once it is known to exist and to be HDF5.
h5::handle open_hdf5_file(const std::string& path) {
  if (!fs::exists(path)) throw archive_error(fmt::format("archive file '{}' does not exist", path));
  if (H5Fis_hdf5(path.c_str()) <= 0)
    throw archive_error(fmt::format("archive file '{}' is not a readable HDF5 file", path));
  return h5::handle(h5::check(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT),
                              fmt::format("archive file '{}' cannot be opened", path)));
}

// The images dataset among a file's datasets, which must be 4-D (N,C,H,W).
const dataset_info& find_images(const std::vector<dataset_info>& datasets,
                                const std::string& images_name, const std::string& path) {
  const auto it = std::find_if(datasets.begin(), datasets.end(),
                               [&](const dataset_info& d) { return d.name == images_name; });
  if (it == datasets.end()) {
    std::vector<std::string> names;
    for (const auto& d : datasets) names.push_back(d.name);
    throw archive_error(
        fmt::format("archive file '{}' has no dataset '{}' (it has: {})", path, images_name,
                    names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", "))));
  }
  if (it->shape.size() != 4)
    throw archive_error(
        fmt::format("archive file '{}': dataset '{}' has rank {} (shape {}), expected 4 (N,C,H,W)",
                    path, images_name, it->shape.size(), shape_str(it->shape)));
  return *it;
}

h5::handle open_dataset(hid_t file, const std::string& name, const std::string& path) {
  return h5::handle(
      h5::check(H5Dopen2(file, name.c_str(), H5P_DEFAULT),
                fmt::format("archive file '{}': cannot open dataset '{}'", path, name)));
}

void check_image_dtype(hid_t images, const dataset_info& info, const std::string& path) {
  h5::handle t(H5Dget_type(images));
  if (!accepted_image_type(t.get()))
    throw archive_error(fmt::format(
        "archive file '{}': dataset '{}' has dtype {}; expected float32 (float16, float64 and "
        "uint16 are accepted)",
        path, info.name, info.dtype));
}

// Every dataset but the images has one entry per image row.
void check_field_lengths(const file_info& info, const std::string& images_name) {
  for (const auto& d : info.datasets) {
    if (d.name == images_name) continue;
    if (d.shape.empty() || d.shape[0] != info.rows)
      throw archive_error(
          fmt::format("archive file '{}': field '{}' has length {} but '{}' has {} rows", info.path,
                      d.name, d.shape.empty() ? 0 : d.shape[0], images_name, info.rows));
  }
}

// A file whose writer stopped before the end says so in its completeness attribute.
void check_complete(hid_t file, const std::string& path) {
  if (double complete = 1.0;
      h5::read_double_attr(file, complete_attribute, complete) && complete != 1.0)
    throw archive_error(fmt::format(
        "archive file '{}' is unfinished ({} = 0: the command writing it stopped before the "
        "end); write it again",
        path, complete_attribute));
}

// What the files' attributes say about the archive: the bands (every file that names them
// must agree), the pixel scale and the survey (the last file that names them).
struct file_attributes {
  std::vector<std::string> bands;
  double pixel_scale = 0.0;
  std::string survey;

  void read(hid_t file, const std::string& path, int channels, const std::string& first_path) {
    std::vector<std::string> b;
    double s = 0.0;
    std::vector<std::string> sv;
    const bool has_b = h5::read_string_attr(file, "bands", b);
    const bool has_s = h5::read_double_attr(file, "pixel_scale", s);
    if (h5::read_string_attr(file, "survey", sv) && !sv.empty()) survey = sv.front();
    if (has_b && b.size() == 1 && static_cast<int>(b[0].size()) != 1)
      b = split_bands(b[0], channels);
    if (has_b) {
      if (!bands.empty() && b != bands)
        throw archive_error(fmt::format("archive file '{}' has bands [{}] but '{}' has [{}]", path,
                                        fmt::join(b, ","), first_path, fmt::join(bands, ",")));
      bands = b;
    }
    if (has_s) pixel_scale = s;
  }
};

// The survey's preset: by name, else (no survey named) by the channel count; null if none.
const survey_preset* find_preset(const std::string& survey, int channels) {
  const survey_preset* preset = nullptr;
  for (const auto& p : presets())
    if (p.name == survey) preset = &p;
  if (!preset && survey.empty())
    for (const auto& p : presets())
      if (p.channels == channels) preset = &p;
  return preset;
}

// Bands: file attribute > option (data.bands) > preset; one per image channel.
std::vector<std::string> choose_bands(const file_attributes& files, const archive_options& options,
                                      const survey_preset* preset, int channels,
                                      const std::string& first) {
  std::vector<std::string> bands;
  if (!files.bands.empty()) {
    if (!options.bands.empty() && options.bands != files.bands)
      throw archive_error(fmt::format("archive '{}' has bands [{}] but data.bands is [{}]", first,
                                      fmt::join(files.bands, ","), fmt::join(options.bands, ",")));
    bands = files.bands;
  } else if (!options.bands.empty()) {
    bands = options.bands;
  } else if (preset && preset->channels == channels) {
    bands = preset->bands;
  } else {
    throw archive_error(fmt::format(
        "archive '{}' has no 'bands' attribute and {} channels; set data.bands (e.g. --set "
        "'data.bands=[\"g\",\"r\",\"z\"]') or data.survey",
        first, channels));
  }
  if (static_cast<int>(bands.size()) != channels)
    throw archive_error(fmt::format("archive '{}': {} bands [{}] for {} image channels", first,
                                    bands.size(), fmt::join(bands, ","), channels));
  return bands;
}

// Pixel scale: file attribute > option (data.pixel_scale) > preset.
double choose_pixel_scale(const file_attributes& files, const archive_options& options,
                          const survey_preset* preset, const std::string& first) {
  if (files.pixel_scale > 0) return files.pixel_scale;
  if (options.pixel_scale > 0) return options.pixel_scale;
  if (preset) return preset->pixel_scale;
  throw archive_error(
      fmt::format("archive '{}' has no 'pixel_scale' attribute; set data.pixel_scale (e.g. --set "
                  "data.pixel_scale=0.262), or data.survey",
                  first));
}

void log_fallbacks(const fallback_counts& fallbacks, const std::string& images_name) {
  for (const auto& [reason, fb] : fallbacks)
    log::info(
        "archive: '{}' of {} file(s) is read through HDF5 selections, not direct reads: {} "
        "(first: '{}')",
        images_name, fb.first, reason, fb.second);
}

// A field mapped explicitly (data.fields) must exist in every file.
void check_mapped_fields(const std::map<std::string, std::string>& field_map,
                         const std::vector<file_info>& infos) {
  for (const auto& [canonical, mapped] : field_map) {
    const std::string& name = mapped;  // C++17: a lambda cannot capture a structured binding
    for (const auto& info : infos) {
      const bool found = std::any_of(info.datasets.begin(), info.datasets.end(),
                                     [&](const dataset_info& d) { return d.name == name; });
      if (!found)
        throw archive_error(fmt::format("archive file '{}' has no dataset '{}' (data.fields.{})",
                                        info.path, name, canonical));
    }
  }
}

}  // namespace

std::vector<std::string> resolve_paths(const std::vector<std::string>& specs) {
  std::vector<std::string> out;
  for (const auto& spec : specs) {
    if (spec.empty()) continue;
    if (spec[0] == '@') {
      const fs::path list = spec.substr(1);
      std::ifstream in(list);
      if (!in)
        throw archive_error(fmt::format("archive list file '{}' cannot be read", list.string()));
      std::string line;
      while (std::getline(in, line)) {
        const auto b = line.find_first_not_of(" \t\r");
        if (b == std::string::npos || line[b] == '#') continue;
        const auto e = line.find_last_not_of(" \t\r");
        fs::path p = line.substr(b, e - b + 1);
        if (p.is_relative()) p = list.parent_path() / p;
        out.push_back(p.string());
      }
    } else if (spec.find_first_of("*?[") != std::string::npos) {
      glob_t g{};
      const int rc = glob(spec.c_str(), 0, nullptr, &g);
      std::vector<std::string> found;
      for (std::size_t i = 0; rc == 0 && i < g.gl_pathc; ++i) found.emplace_back(g.gl_pathv[i]);
      globfree(&g);
      if (found.empty())
        throw archive_error(fmt::format("archive glob '{}' matches no files", spec));
      std::sort(found.begin(), found.end());
      out.insert(out.end(), found.begin(), found.end());
    } else {
      out.push_back(spec);
    }
  }
  if (out.empty()) throw archive_error("no archive files given (data.path is empty)");
  return out;
}

std::string archive::file_state::open_direct_images(const std::string& images_name,
                                                    fallback_counts& fallbacks) {
  fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    throw archive_error(
        fmt::format("archive file '{}' cannot be opened: {}", path, std::strerror(errno)));
  auto d = std::make_unique<detail::direct_rows>(images.get());
  if (!d->usable()) {
    auto& fb = fallbacks[d->reason()];
    if (fb.first++ == 0) fb.second = path;
    return "HDF5 selections: dataset '" + images_name + "': " + d->reason();
  }
  std::string how = d->chunked() ? fmt::format("direct (chunks of {} rows)", d->chunk_rows())
                                 : "direct (contiguous)";
  images_direct = std::move(d);
  return how;
}

void archive::file_state::open_columns(const std::vector<dataset_info>& datasets,
                                       const std::string& images_name, bool direct_reads) {
  for (const auto& d : datasets) {
    if (d.name == images_name || d.shape.size() != 1) continue;
    auto c = std::make_unique<column_state>();
    c->dset = open_dataset(file.get(), d.name, path);
    if (direct_reads) {
      auto dr = std::make_unique<detail::direct_rows>(c->dset.get());
      if (dr->usable()) c->direct = std::move(dr);
    }
    columns.emplace(d.name, std::move(c));
  }
}

bool archive::file_state::all_contiguous() const {
  if (!images_direct || images_direct->chunked()) return false;
  return std::all_of(columns.begin(), columns.end(), [](const auto& kv) {
    return kv.second->direct && !kv.second->direct->chunked();
  });
}

void archive::file_state::release_hdf5() {
  for (auto& [name, c] : columns) c->dset.reset();
  images.reset();
  file.reset();
}

archive::archive(const archive_options& options)
    : field_map_(options.fields), images_name_(options.images) {
  std::lock_guard<std::recursive_mutex> lock(h5::mutex());
  h5::quiet();
  const auto paths = resolve_paths(options.paths);
  ensure_file_limit(paths.size(), paths.front());
  fallback_counts fallbacks;
  file_attributes attributes;
  for (const auto& path : paths) {
    auto st = std::make_unique<file_state>();
    st->path = path;
    st->file = open_hdf5_file(path);
    file_info info;
    info.path = path;
    info.first_row = size_;
    info.datasets = list_datasets(st->file.get(), path, options.allow_external);
    const dataset_info& images = find_images(info.datasets, images_name_, path);
    st->images = open_dataset(st->file.get(), images_name_, path);
    check_image_dtype(st->images.get(), images, path);
    info.image_dtype = images.dtype;
    check_image_shape(images.shape, stored_bytes(path), path, images_name_);
    info.rows = images.shape[0];
    const int c = static_cast<int>(images.shape[1]), h = static_cast<int>(images.shape[2]),
              w = static_cast<int>(images.shape[3]);
    if (infos_.empty()) {
      channels_ = c;
      height_ = h;
      width_ = w;
    } else if (c != channels_ || h != height_ || w != width_) {
      throw archive_error(fmt::format(
          "archive file '{}': images are {}x{}x{} but '{}' has {}x{}x{}; all files of an archive "
          "must agree",
          path, c, h, w, infos_.front().path, channels_, height_, width_));
    }
    check_field_lengths(info, images_name_);
    check_complete(st->file.get(), path);
    attributes.read(st->file.get(), path, c, infos_.empty() ? path : infos_.front().path);
    // Direct reads: where every dataset's rows lie, checked once here.
    info.images_read = options.direct_reads ? st->open_direct_images(images_name_, fallbacks)
                                            : "HDF5 selections: data.direct_reads = false";
    st->open_columns(info.datasets, images_name_, options.direct_reads);
    // Only the descriptor is needed from now on: hundreds of files stay cheap.
    if (st->all_contiguous()) st->release_hdf5();
    size_ += info.rows;
    infos_.push_back(std::move(info));
    files_.push_back(std::move(st));
  }
  const std::string first = infos_.front().path;
  // Survey: the files' attribute, else the option, else inferred from the channel count.
  survey_ = !attributes.survey.empty() ? attributes.survey : options.survey;
  const survey_preset* preset = find_preset(survey_, channels_);
  bands_ = choose_bands(attributes, options, preset, channels_, first);
  pixel_scale_ = choose_pixel_scale(attributes, options, preset, first);
  if (survey_.empty() && preset) survey_ = preset->name;
  log_fallbacks(fallbacks, images_name_);
  check_mapped_fields(field_map_, infos_);
}

archive::~archive() {
  std::lock_guard<std::recursive_mutex> lock(h5::mutex());
  files_.clear();
}

int archive::file_of(std::int64_t row) const {
  const auto it =
      std::upper_bound(infos_.begin(), infos_.end(), row,
                       [](std::int64_t r, const file_info& f) { return r < f.first_row; });
  return static_cast<int>(it - infos_.begin()) - 1;
}

std::string archive::field_dataset(const std::string& canonical) const {
  const auto m = field_map_.find(canonical);
  if (m != field_map_.end()) return m->second;
  std::vector<std::string> candidates{canonical};
  const auto a = aliases().find(canonical);
  if (a != aliases().end()) candidates.insert(candidates.end(), a->second.begin(), a->second.end());
  for (const auto& c : candidates) {
    const bool everywhere = std::all_of(infos_.begin(), infos_.end(), [&](const file_info& f) {
      return std::any_of(f.datasets.begin(), f.datasets.end(),
                         [&](const dataset_info& d) { return d.name == c && d.shape.size() == 1; });
    });
    if (everywhere) return c;
  }
  return "";
}

void archive::open_images(std::size_t f) const {
  auto& st = *files_[f];
  if (!st.file)
    st.file = h5::handle(h5::check(H5Fopen(st.path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT),
                                   fmt::format("archive file '{}' cannot be reopened", st.path)));
  if (!st.images)
    st.images = h5::handle(h5::check(
        H5Dopen2(st.file.get(), images_name_.c_str(), H5P_DEFAULT),
        fmt::format("archive file '{}': cannot open dataset '{}'", st.path, images_name_)));
}

archive::column_state& archive::column(std::size_t f, const std::string& dataset) const {
  auto& st = *files_[f];
  const auto it = st.columns.find(dataset);
  if (it == st.columns.end()) {
    const auto& ds = infos_[f].datasets;
    const bool exists =
        std::any_of(ds.begin(), ds.end(), [&](const dataset_info& d) { return d.name == dataset; });
    throw archive_error(fmt::format(exists ? "archive file '{}': dataset '{}' is not 1-D"
                                           : "archive file '{}' has no dataset '{}'",
                                    st.path, dataset));
  }
  return *it->second;
}

void archive::read_images_hdf5(std::size_t f, const std::int64_t* rows, std::size_t n,
                               float* const* dst) const {
  std::lock_guard<std::recursive_mutex> lock(h5::mutex());
  const auto& info = infos_[f];
  open_images(f);
  const hid_t dset = files_[f]->images.get();
  const std::size_t pix = static_cast<std::size_t>(channels_) * height_ * width_;
  h5::handle fspace(H5Dget_space(dset));
  hsize_t start[4] = {0, 0, 0, 0};
  hsize_t count[4] = {0, static_cast<hsize_t>(channels_), static_cast<hsize_t>(height_),
                      static_cast<hsize_t>(width_)};
  h5::handle mspace;
  hsize_t mspace_rows = 0;
  // One regular hyperslab read per run of neighbouring rows with neighbouring destinations.
  // (A single read of the OR-ed union of runs is far slower in HDF5 1.10.)
  for (std::size_t k = 0; k < n;) {
    std::size_t e = k + 1;
    while (e < n && rows[e] == rows[e - 1] + 1 && dst[e] == dst[e - 1] + pix) ++e;
    start[0] = static_cast<hsize_t>(rows[k] - info.first_row);
    count[0] = static_cast<hsize_t>(e - k);
    h5::check_status(
        H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start, nullptr, count, nullptr),
        fmt::format("archive file '{}': bad selection in '{}'", info.path, images_name_));
    if (mspace_rows != count[0]) {
      mspace = h5::handle(H5Screate_simple(4, count, nullptr));
      mspace_rows = count[0];
    }
    h5::check_status(
        H5Dread(dset, H5T_NATIVE_FLOAT, mspace.get(), fspace.get(), H5P_DEFAULT, dst[k]),
        fmt::format("archive file '{}': cannot read rows {}-{} of dataset '{}'", info.path,
                    start[0], start[0] + count[0] - 1, images_name_));
    k = e;
  }
}

pixel_report archive::read_images_into(const std::int64_t* rows, std::size_t n, float* const* dst,
                                       bool zero_nonfinite,
                                       std::vector<std::int64_t>* bad_rows) const {
  const std::size_t pix = static_cast<std::size_t>(channels_) * height_ * width_;
  pixel_report rep;
  auto account = [&](std::int64_t row, float* p, const void* src, detail::stored_type type) {
    std::int64_t first = -1;
    const std::int64_t bad = detail::decode_pixels(src, type, p, pix, zero_nonfinite, &first);
    if (bad == 0) return;
    rep.nonfinite += bad;
    ++rep.bad_rows;
    if (bad_rows) bad_rows->push_back(row);
    if (rep.first_row < 0 || row < rep.first_row) {
      rep.first_row = row;
      rep.first_pixel = first;
    }
  };
  thread_local std::vector<char> scratch;
  // Runs of one pread: at most 64 MiB, so a huge sequential read still interleaves.
  constexpr std::size_t max_run_bytes = std::size_t{64} << 20;
  std::size_t i = 0;
  while (i < n) {
    if (rows[i] < 0 || rows[i] >= size_)
      throw archive_error(fmt::format("row {} is outside the archive (size {})", rows[i], size_));
    if (i > 0 && rows[i] <= rows[i - 1])
      throw archive_error(
          fmt::format("archive: rows to read must be sorted and distinct ({} "
                      "after {})",
                      rows[i], rows[i - 1]));
    const auto f = static_cast<std::size_t>(file_of(rows[i]));
    const auto& info = infos_[f];
    auto& st = *files_[f];
    std::size_t j = i;
    while (j < n && rows[j] < info.first_row + info.rows) ++j;
    if (!st.images_direct) {
      read_images_hdf5(f, rows + i, j - i, dst + i);
      for (std::size_t m = i; m < j; ++m)
        account(rows[m], dst[m], dst[m], detail::stored_type::f32);
      i = j;
      continue;
    }
    const auto& d = *st.images_direct;
    const bool in_place = d.type() == detail::stored_type::f32;
    for (std::size_t k = i; k < j;) {
      const std::int64_t local = rows[k] - info.first_row;
      const std::uint64_t off = d.row_offset(st.images.get(), local);
      if (off == detail::direct_rows::unallocated) {  // never written: HDF5's fill value
        read_images_hdf5(f, rows + k, 1, dst + k);
        account(rows[k], dst[k], dst[k], detail::stored_type::f32);
        ++k;
        continue;
      }
      std::size_t e = k + 1;
      if (in_place)
        while (e < j && rows[e] == rows[e - 1] + 1 && dst[e] == dst[e - 1] + pix &&
               d.adjacent(rows[e - 1] - info.first_row) &&
               (e - k + 1) * d.row_bytes() <= max_run_bytes)
          ++e;
      if (in_place) {
        detail::pread_all(st.fd, dst[k], (e - k) * d.row_bytes(), off, info.path);
        for (std::size_t m = k; m < e; ++m) account(rows[m], dst[m], dst[m], d.type());
      } else {
        scratch.resize(d.row_bytes());
        detail::pread_all(st.fd, scratch.data(), d.row_bytes(), off, info.path);
        account(rows[k], dst[k], scratch.data(), d.type());
      }
      k = e;
    }
    i = j;
  }
  return rep;
}

pixel_report archive::read_images_rows(const std::vector<std::int64_t>& sorted_rows,
                                       float* out) const {
  const std::size_t pix = static_cast<std::size_t>(channels_) * height_ * width_;
  std::vector<float*> dst(sorted_rows.size());
  for (std::size_t k = 0; k < dst.size(); ++k) dst[k] = out + k * pix;
  return read_images_into(sorted_rows.data(), sorted_rows.size(), dst.data(), false);
}

pixel_report archive::read_images(std::int64_t start, std::int64_t count, float* out) const {
  std::vector<std::int64_t> rows(static_cast<std::size_t>(std::max<std::int64_t>(count, 0)));
  for (std::int64_t k = 0; k < count; ++k) rows[static_cast<std::size_t>(k)] = start + k;
  return read_images_rows(rows, out);
}

void archive::read_column_hdf5(std::size_t f, const std::string& dataset, const std::int64_t* rows,
                               std::size_t n, double* out) const {
  std::lock_guard<std::recursive_mutex> lock(h5::mutex());
  const auto& info = infos_[f];
  auto& c = column(f, dataset);
  if (!c.dset) {
    open_images(f);  // reopens the file
    c.dset = h5::handle(
        h5::check(H5Dopen2(files_[f]->file.get(), dataset.c_str(), H5P_DEFAULT),
                  fmt::format("archive file '{}': cannot open dataset '{}'", info.path, dataset)));
  }
  h5::handle fspace(H5Dget_space(c.dset.get()));
  // HDF5 callocs its whole type-conversion buffer (1 MiB by default) for every read that
  // converts (float32 -> double here): per row, that memset cost more than the read.
  h5::handle dxpl(H5Pcreate(H5P_DATASET_XFER));
  H5Pset_buffer(dxpl.get(), std::max<std::size_t>(n * sizeof(double), 4096), nullptr, nullptr);
  hsize_t start = 0, count = 0;
  h5::handle mspace;
  hsize_t mspace_rows = 0;
  for (std::size_t k = 0; k < n;) {
    std::size_t e = k + 1;
    while (e < n && rows[e] == rows[e - 1] + 1) ++e;
    start = static_cast<hsize_t>(rows[k] - info.first_row);
    count = static_cast<hsize_t>(e - k);
    h5::check_status(
        H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, &start, nullptr, &count, nullptr),
        fmt::format("archive file '{}': bad selection in '{}'", info.path, dataset));
    if (mspace_rows != count) {
      mspace = h5::handle(H5Screate_simple(1, &count, nullptr));
      mspace_rows = count;
    }
    h5::check_status(
        H5Dread(c.dset.get(), H5T_NATIVE_DOUBLE, mspace.get(), fspace.get(), dxpl.get(), out + k),
        fmt::format("archive file '{}': cannot read rows {}-{} of dataset '{}'", info.path, start,
                    start + count - 1, dataset));
    k = e;
  }
}

void archive::read_column_rows(const std::string& dataset, const std::vector<std::int64_t>& rows,
                               double* out) const {
  thread_local std::vector<char> scratch;
  std::size_t i = 0;
  while (i < rows.size()) {
    if (rows[i] < 0 || rows[i] >= size_)
      throw archive_error(fmt::format("row {} is outside the archive (size {})", rows[i], size_));
    const auto f = static_cast<std::size_t>(file_of(rows[i]));
    const auto& info = infos_[f];
    std::size_t j = i;
    while (j < rows.size() && rows[j] >= info.first_row && rows[j] < info.first_row + info.rows)
      ++j;
    auto& c = column(f, dataset);
    if (!c.direct) {
      read_column_hdf5(f, dataset, rows.data() + i, j - i, out + i);
      i = j;
      continue;
    }
    const auto& d = *c.direct;
    for (std::size_t k = i; k < j;) {
      const std::int64_t local = rows[k] - info.first_row;
      const std::uint64_t off = d.row_offset(c.dset.get(), local);
      if (off == detail::direct_rows::unallocated) {
        read_column_hdf5(f, dataset, rows.data() + k, 1, out + k);
        ++k;
        continue;
      }
      std::size_t e = k + 1;
      while (e < j && rows[e] == rows[e - 1] + 1 && d.adjacent(rows[e - 1] - info.first_row) &&
             e - k < (std::size_t{1} << 20))
        ++e;
      scratch.resize((e - k) * d.row_bytes());
      detail::pread_all(files_[f]->fd, scratch.data(), scratch.size(), off, info.path);
      detail::decode_column(scratch.data(), d.type(), out + k, e - k);
      k = e;
    }
    i = j;
  }
}

void archive::read_column(const std::string& dataset, std::int64_t start, std::int64_t count,
                          double* out) const {
  std::vector<std::int64_t> rows(static_cast<std::size_t>(std::max<std::int64_t>(count, 0)));
  for (std::int64_t k = 0; k < count; ++k) rows[static_cast<std::size_t>(k)] = start + k;
  read_column_rows(dataset, rows, out);
}

}  // namespace skyssl::data
