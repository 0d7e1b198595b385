#include "skyssl/data/archive.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <glob.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "skyssl/core/error.hpp"
#include "skyssl/data/h5.hpp"

namespace fs = std::filesystem;

namespace skyssl::data {

struct archive::file_state {
  h5::handle file;
  h5::handle images;
  std::map<std::string, h5::handle> columns;  // opened on first use, kept open
};

namespace {

struct survey_preset {
  const char* name;
  int channels;
  std::vector<std::string> bands;
  double pixel_scale;
};

const std::vector<survey_preset>& presets() {
  static const std::vector<survey_preset> p = {
      {"decals", 3, {"g", "r", "z"}, 0.262},
      {"sdss", 5, {"u", "g", "r", "i", "z"}, 0.396},
  };
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

std::vector<dataset_info> list_datasets(hid_t file, const std::string& path) {
  std::vector<std::string> names;
  auto cb = [](hid_t, const char* name, const H5L_info_t*, void* data) -> herr_t {
    static_cast<std::vector<std::string>*>(data)->emplace_back(name);
    return 0;
  };
  h5::check_status(H5Literate(file, H5_INDEX_NAME, H5_ITER_INC, nullptr, cb, &names),
                   fmt::format("archive file '{}': cannot list its datasets", path));
  std::vector<dataset_info> out;
  for (const auto& n : names) {
    H5O_info_t oi;
    if (H5Oget_info_by_name(file, n.c_str(), &oi, H5P_DEFAULT) < 0 || oi.type != H5O_TYPE_DATASET)
      continue;
    h5::handle d(H5Dopen2(file, n.c_str(), H5P_DEFAULT));
    if (!d) continue;
    h5::handle t(H5Dget_type(d.get()));
    out.push_back({n, h5::type_name(t.get()), dataset_shape(d.get())});
  }
  return out;
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

archive::archive(const archive_options& options)
    : field_map_(options.fields), images_name_(options.images) {
  std::lock_guard<std::recursive_mutex> lock(h5::mutex());
  h5::quiet();
  const auto paths = resolve_paths(options.paths);
  std::vector<std::string> file_bands;
  double file_scale = 0.0;
  std::string file_survey;
  for (const auto& path : paths) {
    if (!fs::exists(path))
      throw archive_error(fmt::format("archive file '{}' does not exist", path));
    auto st = std::make_unique<file_state>();
    if (H5Fis_hdf5(path.c_str()) <= 0)
      throw archive_error(fmt::format("archive file '{}' is not a readable HDF5 file", path));
    st->file = h5::handle(h5::check(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT),
                                    fmt::format("archive file '{}' cannot be opened", path)));
    file_info info;
    info.path = path;
    info.first_row = size_;
    info.datasets = list_datasets(st->file.get(), path);
    const auto it = std::find_if(info.datasets.begin(), info.datasets.end(),
                                 [&](const dataset_info& d) { return d.name == images_name_; });
    if (it == info.datasets.end()) {
      std::vector<std::string> names;
      for (const auto& d : info.datasets) names.push_back(d.name);
      throw archive_error(
          fmt::format("archive file '{}' has no dataset '{}' (it has: {})", path, images_name_,
                      names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", "))));
    }
    if (it->shape.size() != 4)
      throw archive_error(fmt::format(
          "archive file '{}': dataset '{}' has rank {} (shape {}), expected 4 (N,C,H,W)", path,
          images_name_, it->shape.size(), shape_str(it->shape)));
    st->images = h5::handle(
        h5::check(H5Dopen2(st->file.get(), images_name_.c_str(), H5P_DEFAULT),
                  fmt::format("archive file '{}': cannot open dataset '{}'", path, images_name_)));
    {
      h5::handle t(H5Dget_type(st->images.get()));
      if (!accepted_image_type(t.get()))
        throw archive_error(fmt::format(
            "archive file '{}': dataset '{}' has dtype {}; expected float32 (float16, float64 and "
            "uint16 are accepted)",
            path, images_name_, it->dtype));
    }
    info.image_dtype = it->dtype;
    info.rows = it->shape[0];
    const int c = static_cast<int>(it->shape[1]), h = static_cast<int>(it->shape[2]),
              w = static_cast<int>(it->shape[3]);
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
    for (const auto& d : info.datasets) {
      if (d.name == images_name_) continue;
      if (d.shape.empty() || d.shape[0] != info.rows)
        throw archive_error(
            fmt::format("archive file '{}': field '{}' has length {} but '{}' has {} rows", path,
                        d.name, d.shape.empty() ? 0 : d.shape[0], images_name_, info.rows));
    }
    std::vector<std::string> b;
    double s = 0.0;
    std::vector<std::string> sv;
    const bool has_b = h5::read_string_attr(st->file.get(), "bands", b);
    const bool has_s = h5::read_double_attr(st->file.get(), "pixel_scale", s);
    if (h5::read_string_attr(st->file.get(), "survey", sv) && !sv.empty()) file_survey = sv.front();
    // "grz" or "g,r,z" in one string: split into bands.
    if (has_b && b.size() == 1 && static_cast<int>(b[0].size()) != 1) {
      std::vector<std::string> split;
      std::string cur;
      for (char ch : b[0]) {
        if (ch == ',' || ch == ' ') {
          if (!cur.empty()) split.push_back(cur);
          cur.clear();
        } else {
          cur.push_back(ch);
        }
      }
      if (!cur.empty()) split.push_back(cur);
      if (split.size() == 1 && static_cast<int>(split[0].size()) == c) {
        std::vector<std::string> chars;
        for (char ch : split[0]) chars.emplace_back(1, ch);
        split = chars;
      }
      b = split;
    }
    if (has_b) {
      if (!file_bands.empty() && b != file_bands)
        throw archive_error(fmt::format("archive file '{}' has bands [{}] but '{}' has [{}]", path,
                                        fmt::join(b, ","), infos_.front().path,
                                        fmt::join(file_bands, ",")));
      file_bands = b;
    }
    if (has_s) file_scale = s;
    size_ += info.rows;
    infos_.push_back(std::move(info));
    files_.push_back(std::move(st));
  }
  const std::string first = infos_.front().path;
  // Survey: the files' attribute, else the option, else inferred from the channel count.
  survey_ = !file_survey.empty() ? file_survey : options.survey;
  const survey_preset* preset = nullptr;
  for (const auto& p : presets())
    if (p.name == survey_) preset = &p;
  if (!preset && survey_.empty())
    for (const auto& p : presets())
      if (p.channels == channels_) preset = &p;
  // Bands and pixel scale: file attribute > option (data.bands / data.pixel_scale) > preset.
  if (!file_bands.empty()) {
    if (!options.bands.empty() && options.bands != file_bands)
      throw archive_error(fmt::format("archive '{}' has bands [{}] but data.bands is [{}]", first,
                                      fmt::join(file_bands, ","), fmt::join(options.bands, ",")));
    bands_ = file_bands;
  } else if (!options.bands.empty()) {
    bands_ = options.bands;
  } else if (preset && preset->channels == channels_) {
    bands_ = preset->bands;
  } else {
    throw archive_error(fmt::format(
        "archive '{}' has no 'bands' attribute and {} channels; set data.bands (e.g. --set "
        "'data.bands=[\"g\",\"r\",\"z\"]') or data.survey",
        first, channels_));
  }
  if (static_cast<int>(bands_.size()) != channels_)
    throw archive_error(fmt::format("archive '{}': {} bands [{}] for {} image channels", first,
                                    bands_.size(), fmt::join(bands_, ","), channels_));
  if (file_scale > 0) {
    pixel_scale_ = file_scale;
  } else if (options.pixel_scale > 0) {
    pixel_scale_ = options.pixel_scale;
  } else if (preset) {
    pixel_scale_ = preset->pixel_scale;
  } else {
    throw archive_error(
        fmt::format("archive '{}' has no 'pixel_scale' attribute; set data.pixel_scale (e.g. --set "
                    "data.pixel_scale=0.262), or data.survey",
                    first));
  }
  if (survey_.empty() && preset) survey_ = preset->name;
  for (const auto& [canonical, name] : field_map_) {
    for (const auto& info : infos_) {
      const bool found = std::any_of(info.datasets.begin(), info.datasets.end(),
                                     [&](const dataset_info& d) { return d.name == name; });
      if (!found)
        throw archive_error(fmt::format("archive file '{}' has no dataset '{}' (data.fields.{})",
                                        info.path, name, canonical));
    }
  }
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

void archive::read_rows(const std::string& dataset, bool images,
                        const std::vector<std::int64_t>& rows, void* out) const {
  std::lock_guard<std::recursive_mutex> lock(h5::mutex());
  const std::size_t per_row = images ? static_cast<std::size_t>(channels_) * height_ * width_ : 1;
  const std::size_t elem = images ? sizeof(float) : sizeof(double);
  auto* dst = static_cast<char*>(out);
  std::size_t i = 0;
  while (i < rows.size()) {
    if (rows[i] < 0 || rows[i] >= size_)
      throw archive_error(fmt::format("row {} is outside the archive (size {})", rows[i], size_));
    const int f = file_of(rows[i]);
    const auto& info = infos_[static_cast<std::size_t>(f)];
    auto& st = *files_[static_cast<std::size_t>(f)];
    std::size_t j = i;
    while (j < rows.size() && rows[j] >= info.first_row && rows[j] < info.first_row + info.rows)
      ++j;
    hid_t dset = -1;
    if (images) {
      dset = st.images.get();
    } else {
      auto it = st.columns.find(dataset);
      if (it == st.columns.end()) {
        h5::handle d(h5::check(
            H5Dopen2(st.file.get(), dataset.c_str(), H5P_DEFAULT),
            fmt::format("archive file '{}': cannot open dataset '{}'", info.path, dataset)));
        it = st.columns.emplace(dataset, std::move(d)).first;
      }
      dset = it->second.get();
    }
    h5::handle fspace(H5Dget_space(dset));
    const int rank = H5Sget_simple_extent_ndims(fspace.get());
    if (!images && rank != 1)
      throw archive_error(
          fmt::format("archive file '{}': dataset '{}' is not 1-D", info.path, dataset));
    std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
    H5Sget_simple_extent_dims(fspace.get(), dims.data(), nullptr);
    // One regular hyperslab read per run of neighbouring rows. (A single read of the OR-ed
    // union of runs is far slower in HDF5 1.10: the irregular selection is walked row by row.)
    std::vector<hsize_t> start(dims.size(), 0), count = dims;
    h5::handle mspace;
    hsize_t mspace_rows = 0;
    for (std::size_t k = i; k < j;) {
      std::size_t e = k + 1;
      while (e < j && rows[e] == rows[e - 1] + 1) ++e;
      start[0] = static_cast<hsize_t>(rows[k] - info.first_row);
      count[0] = static_cast<hsize_t>(e - k);
      h5::check_status(H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start.data(), nullptr,
                                           count.data(), nullptr),
                       fmt::format("archive file '{}': bad selection in '{}'", info.path, dataset));
      if (mspace_rows != count[0]) {
        mspace = h5::handle(H5Screate_simple(rank, count.data(), nullptr));
        mspace_rows = count[0];
      }
      h5::check_status(H5Dread(dset, images ? H5T_NATIVE_FLOAT : H5T_NATIVE_DOUBLE, mspace.get(),
                               fspace.get(), H5P_DEFAULT, dst + k * per_row * elem),
                       fmt::format("archive file '{}': cannot read rows {}-{} of dataset '{}'",
                                   info.path, start[0], start[0] + count[0] - 1, dataset));
      k = e;
    }
    i = j;
  }
}

void archive::read_images(std::int64_t start, std::int64_t count, float* out) const {
  std::vector<std::int64_t> rows(static_cast<std::size_t>(count));
  for (std::int64_t k = 0; k < count; ++k) rows[static_cast<std::size_t>(k)] = start + k;
  read_rows(images_name_, true, rows, out);
}

void archive::read_images_rows(const std::vector<std::int64_t>& sorted_rows, float* out) const {
  read_rows(images_name_, true, sorted_rows, out);
}

void archive::read_column(const std::string& dataset, std::int64_t start, std::int64_t count,
                          double* out) const {
  std::vector<std::int64_t> rows(static_cast<std::size_t>(count));
  for (std::int64_t k = 0; k < count; ++k) rows[static_cast<std::size_t>(k)] = start + k;
  read_rows(dataset, false, rows, out);
}

void archive::read_column_rows(const std::string& dataset,
                               const std::vector<std::int64_t>& sorted_rows, double* out) const {
  read_rows(dataset, false, sorted_rows, out);
}

}  // namespace skyssl::data
