#include "skyssl/embed/embedding_reader.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/types.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>

#include "skyssl/core/error.hpp"
#include "skyssl/core/stored_bytes.hpp"
#include "skyssl/data/h5.hpp"  // HDF5 helpers: lib/data and lib/eval only, never apps

namespace skyssl::embed {
namespace {

namespace h5 = data::h5;
using lock = std::lock_guard<std::recursive_mutex>;
constexpr std::int64_t slab_rows = 1 << 20;
// Bounds on what a file's header may declare, checked before anything is sized from it (see
// docs/evaluation.md): widths up to 2^20, rows up to 64 per byte of the file (an embedding being
// written is sparse until done, but not 2^62 rows from a few kilobytes), and data read whole at
// most 1100 times the file's size (deflate's largest ratio is ~1032:1).
constexpr std::uint64_t max_width = 1 << 20;
constexpr std::uint64_t max_rows_per_byte = 64;
constexpr std::uint64_t max_inflation = 1100;

bool read_int_attr(hid_t obj, const char* name, long long& out) {
  if (H5Aexists(obj, name) <= 0) return false;
  h5::handle attr(H5Aopen(obj, name, H5P_DEFAULT));
  if (!attr) return false;
  h5::handle type(H5Aget_type(attr.get()));
  if (H5Tget_class(type.get()) != H5T_INTEGER) return false;
  h5::handle space(H5Aget_space(attr.get()));
  if (H5Sget_simple_extent_npoints(space.get()) != 1) return false;
  return H5Aread(attr.get(), H5T_NATIVE_LLONG, &out) >= 0;
}

std::string read_text_attr(hid_t obj, const char* name) {
  std::vector<std::string> v;
  if (!h5::read_string_attr(obj, name, v) || v.empty()) return {};
  return v.front();
}

}  // namespace

struct embedding_reader::state {
  h5::handle file;
  std::map<std::string, h5::handle> spaces;  // name -> dataset
  std::map<std::string, int> dims;
  std::map<std::string, h5::handle> fields;
  std::map<std::string, bool> integer_field;
  h5::handle done;  // /progress/done, when present
};

embedding_reader::embedding_reader(const std::filesystem::path& path)
    : s_(std::make_unique<state>()), path_(path) {
  lock g(h5::mutex());
  h5::quiet();
  const std::string file = path.string();
  if (!std::filesystem::exists(path))
    throw data_error(
        fmt::format("embedding file '{}' not found (write it with skyssl-embed)", file));
  s_->file = h5::handle(H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  if (!s_->file)
    throw data_error(fmt::format("'{}' is not an HDF5 file ({})", file, h5::last_error()));
  const hid_t f = s_->file.get();
  file_bytes_ = std::filesystem::file_size(path);
  stored_bytes_ = stored_bytes(path);
  long long marker = 0;
  if (!read_int_attr(f, "skyssl_embedding", marker) || marker != 1)
    throw data_error(fmt::format(
        "'{}' is not a skyssl embedding file (no root attribute skyssl_embedding = 1); write "
        "one with skyssl-embed",
        file));
  header_.arch = read_text_attr(f, "arch");
  header_.source = read_text_attr(f, "source");
  header_.model = read_text_attr(f, "model");
  header_.weights = read_text_attr(f, "weights");
  header_.weights_digest = read_text_attr(f, "weights_digest");
  rows_ = -1;
  auto check_rows = [&](std::int64_t n, const std::string& what) {
    if (rows_ < 0) rows_ = n;
    if (n != rows_)
      throw data_error(
          fmt::format("'{}': {} has {} rows, other datasets {}", file, what, n, rows_));
  };
  for (const char* name : {"backbone", "projection"}) {
    if (H5Lexists(f, name, H5P_DEFAULT) <= 0) continue;
    h5::handle d(H5Dopen2(f, name, H5P_DEFAULT));
    if (!d) throw data_error(fmt::format("'{}': cannot open dataset /{}", file, name));
    h5::handle sp(H5Dget_space(d.get())), type(H5Dget_type(d.get()));
    hsize_t dims[2] = {0, 0};
    if (H5Sget_simple_extent_ndims(sp.get()) != 2 || H5Tget_class(type.get()) != H5T_FLOAT)
      throw data_error(
          fmt::format("'{}': /{} must be a 2-D float dataset (rows, dim)", file, name));
    H5Sget_simple_extent_dims(sp.get(), dims, nullptr);
    if (dims[1] == 0) throw data_error(fmt::format("'{}': /{} has 0 columns", file, name));
    if (dims[1] > max_width || dims[0] / max_rows_per_byte > file_bytes_)
      throw data_error(
          fmt::format("'{}': /{} declares {} rows of {} values, absurd for a file of {} bytes",
                      file, name, dims[0], dims[1], file_bytes_));
    check_rows(static_cast<std::int64_t>(dims[0]), std::string("/") + name);
    s_->dims[name] = static_cast<int>(dims[1]);
    (std::string(name) == "backbone" ? header_.backbone_dim : header_.projection_dim) =
        static_cast<std::int64_t>(dims[1]);
    s_->spaces[name] = std::move(d);
    spaces_.emplace_back(name);
  }
  if (spaces_.empty())
    throw data_error(fmt::format("'{}' has neither /backbone nor /projection", file));
  header_.rows = rows_;
  if (H5Lexists(f, "progress", H5P_DEFAULT) > 0) {
    h5::handle g(H5Gopen2(f, "progress", H5P_DEFAULT));
    long long chunk_rows = 0;
    if (!g || !read_int_attr(g.get(), "chunk_rows", chunk_rows) || chunk_rows < 1 ||
        H5Lexists(g.get(), "done", H5P_DEFAULT) <= 0)
      throw data_error(
          fmt::format("'{}': /progress lacks its chunk_rows attribute or its done dataset", file));
    header_.chunk_rows = chunk_rows;
    s_->done = h5::handle(H5Dopen2(g.get(), "done", H5P_DEFAULT));
    h5::handle sp(H5Dget_space(s_->done.get()));
    if (H5Sget_simple_extent_npoints(sp.get()) != header_.chunks())
      throw data_error(fmt::format(
          "'{}': /progress/done has {} entries, {} rows in chunks of {} "
          "need {}",
          file, H5Sget_simple_extent_npoints(sp.get()), rows_, chunk_rows, header_.chunks()));
  }
  if (H5Lexists(f, "fields", H5P_DEFAULT) > 0) {
    h5::handle grp(H5Gopen2(f, "fields", H5P_DEFAULT));
    H5G_info_t info{};
    if (!grp || H5Gget_info(grp.get(), &info) < 0)
      throw data_error(fmt::format("'{}': /fields is not a group", file));
    for (hsize_t i = 0; i < info.nlinks; ++i) {
      char name[256] = {};
      H5Lget_name_by_idx(grp.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name,
                         H5P_DEFAULT);
      h5::handle d(H5Dopen2(grp.get(), name, H5P_DEFAULT));
      if (!d) continue;
      h5::handle sp(H5Dget_space(d.get())), type(H5Dget_type(d.get()));
      const auto cls = H5Tget_class(type.get());
      if (H5Sget_simple_extent_ndims(sp.get()) != 1 || (cls != H5T_INTEGER && cls != H5T_FLOAT))
        continue;  // strings and the like are not id fields
      hsize_t n = 0;
      H5Sget_simple_extent_dims(sp.get(), &n, nullptr);
      if (n / max_rows_per_byte > file_bytes_)
        throw data_error(
            fmt::format("'{}': /fields/{} declares {} rows, absurd for a file of {} "
                        "bytes",
                        file, name, n, file_bytes_));
      check_rows(static_cast<std::int64_t>(n), std::string("/fields/") + name);
      s_->integer_field[name] = cls == H5T_INTEGER;
      s_->fields[name] = std::move(d);
      fields_.emplace_back(name);
    }
  }
}

embedding_reader::~embedding_reader() {
  lock g(h5::mutex());
  s_.reset();
}

int embedding_reader::dim(const std::string& space) const {
  const auto it = s_->dims.find(space);
  if (it == s_->dims.end())
    throw data_error(fmt::format("'{}' has no /{} embeddings (it has: {})", path_.string(), space,
                                 fmt::join(spaces_, ", ")));
  return it->second;
}

namespace {

// Rows start, start + stride, ... (count of them) of a 1-D or 2-D dataset, converted to
// `mem_type` by HDF5.
void read_rows(hid_t dset, int dim, std::int64_t start, std::int64_t stride, std::int64_t count,
               hid_t mem_type, void* out, const std::string& what) {
  h5::handle fspace(H5Dget_space(dset));
  const int nd = H5Sget_simple_extent_ndims(fspace.get());
  hsize_t off[2] = {static_cast<hsize_t>(start), 0};
  hsize_t str[2] = {static_cast<hsize_t>(stride), 1};
  hsize_t cnt[2] = {static_cast<hsize_t>(count), static_cast<hsize_t>(dim)};
  h5::check_status(H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, off, str, cnt, nullptr), what);
  h5::handle mspace(H5Screate_simple(nd, cnt, nullptr));
  h5::check_status(H5Dread(dset, mem_type, mspace.get(), fspace.get(), H5P_DEFAULT, out), what);
}

}  // namespace

void embedding_reader::read(const std::string& space, std::int64_t start, std::int64_t count,
                            float* out) const {
  const int d = dim(space);
  if (start < 0 || count < 0 || start + count > rows_)
    throw data_error(fmt::format("'{}': rows [{}, {}) are outside [0, {})", path_.string(), start,
                                 start + count, rows_));
  if (count == 0) return;
  lock g(h5::mutex());
  read_rows(s_->spaces.at(space).get(), d, start, 1, count, H5T_NATIVE_FLOAT, out,
            fmt::format("reading rows {}..{} of /{} in '{}'", start, start + count, space,
                        path_.string()));
}

void embedding_reader::read_strided(const std::string& space, std::int64_t stride,
                                    std::int64_t count, float* out) const {
  const int d = dim(space);
  if (stride < 1 || count < 0 || (count > 0 && (count - 1) * stride >= rows_))
    throw data_error(fmt::format("'{}': {} rows at stride {} do not fit in {} rows", path_.string(),
                                 count, stride, rows_));
  if (count == 0) return;
  lock g(h5::mutex());
  read_rows(s_->spaces.at(space).get(), d, 0, stride, count, H5T_NATIVE_FLOAT, out,
            fmt::format("reading a sample of /{} in '{}'", space, path_.string()));
}

std::int64_t embedding_reader::chunks_done() const {
  if (!s_->done) return header_.chunks();
  std::vector<std::uint8_t> done(static_cast<std::size_t>(header_.chunks()));
  if (done.empty()) return 0;
  lock g(h5::mutex());
  read_rows(s_->done.get(), 1, 0, 1, header_.chunks(), H5T_NATIVE_UINT8, done.data(),
            fmt::format("reading /progress/done in '{}'", path_.string()));
  return std::count(done.begin(), done.end(), std::uint8_t{1});
}

void embedding_reader::require_complete() const {
  const auto done = chunks_done();
  if (done != header_.chunks())
    throw data_error(fmt::format(
        "embedding file '{}' is incomplete: {} of {} chunks written; run skyssl-embed again "
        "with the same --out to finish it",
        path_.string(), done, header_.chunks()));
}

torch::Tensor embedding_reader::read_all(const std::string& space) const {
  const int d = dim(space);
  require_complete();
  // rows and d are bounded by the constructor, so the product cannot overflow. A complete file
  // has its data on disk: a sparse extent (holes) is no reason to allocate.
  const auto bytes = static_cast<std::uint64_t>(rows_) * static_cast<std::uint64_t>(d) * 4;
  if (bytes > std::max<std::uint64_t>(stored_bytes_, 1) * max_inflation)
    throw data_error(fmt::format(
        "'{}': /{} declares {} bytes of embeddings, more than a file of {} bytes ({} of them "
        "stored on disk) can hold",
        path_.string(), space, bytes, file_bytes_, stored_bytes_));
  auto out = torch::empty({rows_, d}, torch::kFloat32);
  read(space, 0, rows_, out.data_ptr<float>());
  return out;
}

torch::Tensor embedding_reader::column(const std::string& field) const {
  const auto it = s_->fields.find(field);
  if (it == s_->fields.end())
    throw data_error(
        fmt::format("embedding file '{}' has no field '{}' (fields: {})", path_.string(), field,
                    fields_.empty() ? "none" : fmt::format("{}", fmt::join(fields_, ", "))));
  // rows_ is bounded by the constructor (64 per byte), so 8 bytes a row cannot overflow.
  const auto bytes = static_cast<std::uint64_t>(rows_) * 8;
  if (bytes > std::max<std::uint64_t>(stored_bytes_, 1) * max_inflation)
    throw data_error(fmt::format(
        "'{}': /fields/{} declares {} rows, more than a file of {} bytes ({} of them stored on "
        "disk) can hold",
        path_.string(), field, rows_, file_bytes_, stored_bytes_));
  const auto what = fmt::format("reading /fields/{} in '{}'", field, path_.string());
  lock g(h5::mutex());
  const hid_t d = it->second.get();
  h5::handle type(H5Dget_type(d));
  if (!s_->integer_field.at(field)) {
    const bool f64 = H5Tget_size(type.get()) > 4;
    auto out = torch::empty({rows_}, f64 ? torch::kFloat64 : torch::kFloat32);
    if (rows_ > 0)
      read_rows(d, 1, 0, 1, rows_, f64 ? H5T_NATIVE_DOUBLE : H5T_NATIVE_FLOAT, out.data_ptr(),
                what);
    return out;
  }
  auto out = torch::empty({rows_}, torch::kInt64);
  if (rows_ == 0) return out;
  if (H5Tget_sign(type.get()) == H5T_SGN_NONE && H5Tget_size(type.get()) == 8) {
    std::vector<std::uint64_t> u(static_cast<std::size_t>(rows_));
    read_rows(d, 1, 0, 1, rows_, H5T_NATIVE_UINT64, u.data(), what);
    auto* o = out.data_ptr<std::int64_t>();
    for (std::int64_t i = 0; i < rows_; ++i) {
      if (u[i] > static_cast<std::uint64_t>(INT64_MAX))
        throw data_error(
            fmt::format("embedding file '{}': /fields/{} row {} = {} does not fit "
                        "int64",
                        path_.string(), field, i, u[i]));
      o[i] = static_cast<std::int64_t>(u[i]);
    }
    return out;
  }
  read_rows(d, 1, 0, 1, rows_, H5T_NATIVE_INT64, out.data_ptr(), what);
  return out;
}

std::vector<std::int64_t> embedding_reader::find(const std::string& field,
                                                 const std::string& value) const {
  const auto it = s_->fields.find(field);
  if (it == s_->fields.end())
    throw data_error(
        fmt::format("'{}' has no id field '{}' (fields: {})", path_.string(), field,
                    fields_.empty() ? "none" : fmt::format("{}", fmt::join(fields_, ", "))));
  const bool integer = s_->integer_field.at(field);
  long long want_i = 0;
  double want_d = 0;
  const char* b = value.data();
  const char* e = value.data() + value.size();
  bool ok = false;
  if (integer) {
    auto r = std::from_chars(b, e, want_i);
    ok = r.ec == std::errc() && r.ptr == e;
  } else {
    try {
      std::size_t used = 0;
      want_d = std::stod(value, &used);
      ok = used == value.size();
    } catch (const std::exception&) {
      ok = false;
    }
  }
  if (!ok)
    throw data_error(fmt::format("'{}' is not {} value for field '{}'", value,
                                 integer ? "an integer" : "a number", field));
  std::vector<std::int64_t> hits;
  std::vector<long long> iv;
  std::vector<double> dv;
  lock g(h5::mutex());
  for (std::int64_t s = 0; s < rows_; s += slab_rows) {
    const std::int64_t m = std::min(slab_rows, rows_ - s);
    const auto what = fmt::format("reading /fields/{} in '{}'", field, path_.string());
    if (integer) {
      iv.resize(m);
      read_rows(it->second.get(), 1, s, 1, m, H5T_NATIVE_LLONG, iv.data(), what);
      for (std::int64_t i = 0; i < m; ++i)
        if (iv[i] == want_i) hits.push_back(s + i);
    } else {
      dv.resize(m);
      read_rows(it->second.get(), 1, s, 1, m, H5T_NATIVE_DOUBLE, dv.data(), what);
      for (std::int64_t i = 0; i < m; ++i)
        if (dv[i] == want_d) hits.push_back(s + i);
    }
  }
  return hits;
}

std::string embedding_reader::field_text(const std::string& field, std::int64_t row) const {
  const auto it = s_->fields.find(field);
  if (it == s_->fields.end() || row < 0 || row >= rows_) return {};
  lock g(h5::mutex());
  const auto what = fmt::format("reading /fields/{} in '{}'", field, path_.string());
  if (s_->integer_field.at(field)) {
    long long v = 0;
    read_rows(it->second.get(), 1, row, 1, 1, H5T_NATIVE_LLONG, &v, what);
    return std::to_string(v);
  }
  double v = 0;
  read_rows(it->second.get(), 1, row, 1, 1, H5T_NATIVE_DOUBLE, &v, what);
  return fmt::format("{}", v);
}

embedding_header read_embedding_header(const std::string& path) {
  return embedding_reader(path).header();
}

torch::Tensor read_embeddings(const std::string& path, const std::string& which) {
  if (which != "backbone" && which != "projection")
    throw data_error(fmt::format("embeddings '{}': choose backbone or projection", which));
  return embedding_reader(path).read_all(which);
}

torch::Tensor read_field(const std::string& path, const std::string& name) {
  return embedding_reader(path).column(name);
}

std::vector<std::string> field_names(const std::string& path) {
  return embedding_reader(path).fields();
}

}  // namespace skyssl::embed
