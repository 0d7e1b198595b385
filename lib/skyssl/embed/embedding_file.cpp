#include "skyssl/embed/embedding_file.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

#include "skyssl/core/error.hpp"
#include "skyssl/data/h5.hpp"

namespace skyssl::embed {

using data::h5::handle;

namespace {

void write_string_attr(hid_t obj, const char* name, const std::string& value) {
  data::h5::handle type(H5Tcopy(H5T_C_S1));
  H5Tset_size(type.get(), std::max<std::size_t>(value.size(), 1));
  H5Tset_strpad(type.get(), H5T_STR_NULLPAD);
  data::h5::handle space(H5Screate(H5S_SCALAR));
  data::h5::handle attr(
      data::h5::check_file(H5Acreate2(obj, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT),
                           fmt::format("cannot create attribute '{}'", name)));
  std::string buf = value.empty() ? std::string(1, '\0') : value;
  data::h5::check_file_status(H5Awrite(attr.get(), type.get(), buf.data()),
                              fmt::format("cannot write attribute '{}'", name));
}

void write_int_attr(hid_t obj, const char* name, std::int64_t value) {
  data::h5::handle space(H5Screate(H5S_SCALAR));
  data::h5::handle attr(data::h5::check_file(
      H5Acreate2(obj, name, H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT),
      fmt::format("cannot create attribute '{}'", name)));
  data::h5::check_file_status(H5Awrite(attr.get(), H5T_NATIVE_INT64, &value),
                              fmt::format("cannot write attribute '{}'", name));
}

bool read_string_attr(hid_t obj, const char* name, std::string& out) {
  std::vector<std::string> v;
  if (!data::h5::read_string_attr(obj, name, v)) return false;
  out = v.empty() ? std::string() : v.front();
  return true;
}

bool read_int_attr(hid_t obj, const char* name, std::int64_t& out) {
  if (H5Aexists(obj, name) <= 0) return false;
  data::h5::handle attr(H5Aopen(obj, name, H5P_DEFAULT));
  data::h5::handle type(H5Aget_type(attr.get()));
  if (H5Tget_class(type.get()) != H5T_INTEGER) return false;
  return H5Aread(attr.get(), H5T_NATIVE_INT64, &out) >= 0;
}

data::h5::handle dataset_props(bool zero_fill) {
  data::h5::handle dcpl(H5Pcreate(H5P_DATASET_CREATE));
  H5Pset_obj_track_times(dcpl.get(), 0);
  H5Pset_layout(dcpl.get(), H5D_CONTIGUOUS);
  H5Pset_alloc_time(dcpl.get(), H5D_ALLOC_TIME_EARLY);
  H5Pset_fill_time(dcpl.get(), zero_fill ? H5D_FILL_TIME_ALLOC : H5D_FILL_TIME_NEVER);
  return dcpl;
}

std::vector<std::int64_t> dims_of(hid_t dset) {
  data::h5::handle space(H5Dget_space(dset));
  const int rank = H5Sget_simple_extent_ndims(space.get());
  std::vector<hsize_t> d(std::max(rank, 0));
  H5Sget_simple_extent_dims(space.get(), d.data(), nullptr);
  return {d.begin(), d.end()};
}

// The header as the file records it, read on the writer's own handle (resume check); readers
// go through embedding_reader.
embedding_header header_of(hid_t file, const std::string& path) {
  embedding_header h;
  read_string_attr(file, "arch", h.arch);
  read_string_attr(file, "model", h.model);
  read_string_attr(file, "source", h.source);
  read_string_attr(file, "weights", h.weights);
  read_string_attr(file, "weights_digest", h.weights_digest);
  if (H5Lexists(file, "backbone", H5P_DEFAULT) > 0) {
    data::h5::handle d(H5Dopen2(file, "backbone", H5P_DEFAULT));
    const auto dims = dims_of(d.get());
    h.rows = dims.at(0);
    h.backbone_dim = dims.at(1);
  }
  if (H5Lexists(file, "projection", H5P_DEFAULT) > 0) {
    data::h5::handle d(H5Dopen2(file, "projection", H5P_DEFAULT));
    const auto dims = dims_of(d.get());
    h.rows = dims.at(0);
    h.projection_dim = dims.at(1);
  }
  if (H5Lexists(file, "progress", H5P_DEFAULT) > 0) {
    data::h5::handle g(H5Gopen2(file, "progress", H5P_DEFAULT));
    read_int_attr(g.get(), "chunk_rows", h.chunk_rows);
  }
  if (h.chunk_rows <= 0)
    throw data_error(fmt::format("embedding file '{}' has no /progress (chunk_rows)", path));
  return h;
}

std::vector<std::string> fields_in(hid_t file) {
  std::vector<std::string> out;
  if (H5Lexists(file, "fields", H5P_DEFAULT) <= 0) return out;
  data::h5::handle g(H5Gopen2(file, "fields", H5P_DEFAULT));
  H5G_info_t info;
  H5Gget_info(g.get(), &info);
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    const ssize_t n =
        H5Lget_name_by_idx(g.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    std::string name(static_cast<std::size_t>(n), '\0');
    H5Lget_name_by_idx(g.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), n + 1,
                       H5P_DEFAULT);
    out.push_back(name);
  }
  return out;
}

std::vector<std::uint8_t> read_done(hid_t file, std::int64_t chunks) {
  std::vector<std::uint8_t> done(static_cast<std::size_t>(chunks), 0);
  data::h5::handle d(data::h5::check_file(H5Dopen2(file, "progress/done", H5P_DEFAULT),
                                          "cannot open /progress/done"));
  if (chunks > 0)
    data::h5::check_file_status(
        H5Dread(d.get(), H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, done.data()),
        "cannot read /progress/done");
  return done;
}

}  // namespace

// What differs between two headers, "" when nothing that matters does.
std::string difference(const embedding_header& a, const embedding_header& b) {
  if (a.model != b.model) return fmt::format("model '{}', not '{}'", a.model, b.model);
  if (a.weights_digest != b.weights_digest)
    return fmt::format("weights '{}' ({}), not '{}' ({})", a.weights, a.weights_digest, b.weights,
                       b.weights_digest);
  if (a.source != b.source) return fmt::format("source '{}', not '{}'", a.source, b.source);
  if (a.rows != b.rows) return fmt::format("{} rows, not {}", a.rows, b.rows);
  if (a.backbone_dim != b.backbone_dim || a.projection_dim != b.projection_dim)
    return fmt::format("backbone/projection dims {}/{}, not {}/{}", a.backbone_dim,
                       a.projection_dim, b.backbone_dim, b.projection_dim);
  if (a.chunk_rows != b.chunk_rows)
    return fmt::format("chunk_rows {}, not {}", a.chunk_rows, b.chunk_rows);
  return "";
}

struct embedding_writer::state {
  data::h5::handle file, backbone, projection, done;
  std::vector<data::h5::handle> fields;
  std::vector<data::h5::handle> field_mem_types;
  bool collective = false;
};

embedding_writer::embedding_writer(const std::string& path, const embedding_header& header,
                                   const std::vector<field_column>& fields, bool collective)
    : path_(path), header_(header), s_(std::make_unique<state>()) {
  data::h5::quiet();
  s_->collective = collective;
  if (header_.rows < 1 || header_.chunk_rows < 1 ||
      (header_.backbone_dim < 1 && header_.projection_dim < 1))
    throw data_error(fmt::format("embedding file '{}': nothing to write ({} rows, dims {}/{})",
                                 path, header_.rows, header_.backbone_dim, header_.projection_dim));
  data::h5::handle fapl(H5Pcreate(H5P_FILE_ACCESS));
  if (collective) H5Pset_fapl_mpio(fapl.get(), MPI_COMM_WORLD, MPI_INFO_NULL);
  // No data sieving: every raw write goes to the file at once, so a chunk marked done is on
  // disk (in the page cache) even when the process is killed right after.
  H5Pset_sieve_buf_size(fapl.get(), 0);

  if (std::filesystem::exists(path)) {
    s_->file = data::h5::handle(H5Fopen(path.c_str(), H5F_ACC_RDWR, fapl.get()));
    if (!s_->file)
      throw data_error(
          fmt::format("'{}' exists but cannot be opened for writing: {}; remove it "
                      "or choose another --out",
                      path, data::h5::last_error()));
    std::int64_t tag = 0;
    if (!read_int_attr(s_->file.get(), "skyssl_embedding", tag) || tag != 1)
      throw data_error(fmt::format(
          "'{}' exists and is not a skyssl embedding file; remove it or choose another --out",
          path));
    const auto found = header_of(s_->file.get(), path);
    auto diff = difference(found, header_);
    std::vector<std::string> want;
    for (const auto& f : fields) want.push_back(f.name);
    if (diff.empty() && fields_in(s_->file.get()) != [&] {
          auto w = want;
          std::sort(w.begin(), w.end());
          return w;
        }())
      diff = "other /fields";
    if (!diff.empty())
      throw data_error(fmt::format(
          "'{}' holds the embedding of another model or archive ({}); remove it or choose "
          "another --out",
          path, diff));
    resumed_ = true;
    s_->backbone = data::h5::handle(
        header_.backbone_dim > 0 ? H5Dopen2(s_->file.get(), "backbone", H5P_DEFAULT) : -1);
    s_->projection = data::h5::handle(
        header_.projection_dim > 0 ? H5Dopen2(s_->file.get(), "projection", H5P_DEFAULT) : -1);
    for (const auto& f : fields)
      s_->fields.emplace_back(data::h5::check_file(
          H5Dopen2(s_->file.get(), ("fields/" + f.name).c_str(), H5P_DEFAULT),
          fmt::format("embedding file '{}': cannot open /fields/{}", path, f.name)));
    s_->done = data::h5::handle(
        data::h5::check_file(H5Dopen2(s_->file.get(), "progress/done", H5P_DEFAULT),
                             fmt::format("embedding file '{}': no /progress/done", path)));
  } else {
    data::h5::handle fcpl(H5Pcreate(H5P_FILE_CREATE));
    H5Pset_obj_track_times(fcpl.get(), 0);
    s_->file = data::h5::handle(
        data::h5::check_file(H5Fcreate(path.c_str(), H5F_ACC_EXCL, fcpl.get(), fapl.get()),
                             fmt::format("cannot create embedding file '{}'", path)));
    const hid_t f = s_->file.get();
    write_int_attr(f, "skyssl_embedding", 1);
    write_string_attr(f, "arch", header_.arch);
    write_string_attr(f, "model", header_.model);
    write_string_attr(f, "source", header_.source);
    write_string_attr(f, "weights", header_.weights);
    write_string_attr(f, "weights_digest", header_.weights_digest);
    const auto dcpl = dataset_props(false);
    auto matrix = [&](const char* name, std::int64_t dim) {
      const hsize_t d[2] = {static_cast<hsize_t>(header_.rows), static_cast<hsize_t>(dim)};
      data::h5::handle space(H5Screate_simple(2, d, nullptr));
      return data::h5::handle(data::h5::check_file(
          H5Dcreate2(f, name, H5T_IEEE_F32LE, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
          fmt::format("embedding file '{}': cannot create /{}", path, name)));
    };
    if (header_.backbone_dim > 0) s_->backbone = matrix("backbone", header_.backbone_dim);
    if (header_.projection_dim > 0) s_->projection = matrix("projection", header_.projection_dim);
    data::h5::handle lcpl(H5Pcreate(H5P_LINK_CREATE));
    data::h5::handle gcpl(H5Pcreate(H5P_GROUP_CREATE));
    H5Pset_obj_track_times(gcpl.get(), 0);
    data::h5::handle fields_group(
        data::h5::check_file(H5Gcreate2(f, "fields", H5P_DEFAULT, gcpl.get(), H5P_DEFAULT),
                             fmt::format("embedding file '{}': cannot create /fields", path)));
    const hsize_t n[1] = {static_cast<hsize_t>(header_.rows)};
    for (const auto& col : fields) {
      data::h5::handle space(H5Screate_simple(1, n, nullptr));
      s_->fields.emplace_back(data::h5::check_file(
          H5Dcreate2(fields_group.get(), col.name.c_str(), static_cast<hid_t>(col.type_id),
                     space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
          fmt::format("embedding file '{}': cannot create /fields/{}", path, col.name)));
    }
    data::h5::handle progress(
        data::h5::check_file(H5Gcreate2(f, "progress", H5P_DEFAULT, gcpl.get(), H5P_DEFAULT),
                             fmt::format("embedding file '{}': cannot create /progress", path)));
    write_int_attr(progress.get(), "chunk_rows", header_.chunk_rows);
    const hsize_t c[1] = {static_cast<hsize_t>(header_.chunks())};
    data::h5::handle space(H5Screate_simple(1, c, nullptr));
    const auto zero = dataset_props(true);
    s_->done = data::h5::handle(data::h5::check_file(
        H5Dcreate2(progress.get(), "done", H5T_STD_U8LE, space.get(), H5P_DEFAULT, zero.get(),
                   H5P_DEFAULT),
        fmt::format("embedding file '{}': cannot create /progress/done", path)));
    // The structure is on disk before any chunk is: a crash leaves a file that reopens.
    data::h5::check_file_status(H5Fflush(f, H5F_SCOPE_GLOBAL),
                                fmt::format("cannot flush '{}'", path));
  }
  for (std::size_t i = 0; i < s_->fields.size(); ++i) {
    data::h5::handle ftype(H5Dget_type(s_->fields[i].get()));
    s_->field_mem_types.emplace_back(H5Tget_native_type(ftype.get(), H5T_DIR_ASCEND));
  }
}

embedding_writer::~embedding_writer() {
  try {
    close();
  } catch (...) {
    // close() explicitly to see errors.
  }
}

std::vector<bool> embedding_writer::done_chunks() const {
  const auto d = read_done(s_->file.get(), header_.chunks());
  return {d.begin(), d.end()};
}

void embedding_writer::write_chunk(std::int64_t chunk, const float* backbone,
                                   const float* projection,
                                   const std::vector<const void*>& field_rows) {
  if (chunk < 0 || chunk >= header_.chunks())
    throw data_error(fmt::format("embedding file '{}': chunk {} outside [0, {})", path_, chunk,
                                 header_.chunks()));
  if (field_rows.size() != s_->fields.size())
    throw data_error(fmt::format("embedding file '{}': {} field buffers for {} fields", path_,
                                 field_rows.size(), s_->fields.size()));
  const hsize_t start = static_cast<hsize_t>(chunk * header_.chunk_rows);
  const hsize_t m =
      static_cast<hsize_t>(std::min(header_.chunk_rows, header_.rows - chunk * header_.chunk_rows));
  auto write = [&](hid_t dset, hid_t mem_type, hsize_t width, const void* data,
                   const std::string& name) {
    data::h5::handle fspace(H5Dget_space(dset));
    const int rank = width > 0 ? 2 : 1;
    const hsize_t off[2] = {start, 0};
    const hsize_t cnt[2] = {m, width};
    H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, off, nullptr, cnt, nullptr);
    data::h5::handle mspace(H5Screate_simple(rank, cnt, nullptr));
    data::h5::check_file_status(
        H5Dwrite(dset, mem_type, mspace.get(), fspace.get(), H5P_DEFAULT, data),
        fmt::format("embedding file '{}': cannot write rows [{}, {}) of /{}", path_, start,
                    start + m, name));
  };
  if (s_->backbone) {
    if (!backbone) throw data_error("embedding_writer: backbone rows missing");
    write(s_->backbone.get(), H5T_NATIVE_FLOAT, static_cast<hsize_t>(header_.backbone_dim),
          backbone, "backbone");
  }
  if (s_->projection) {
    if (!projection) throw data_error("embedding_writer: projection rows missing");
    write(s_->projection.get(), H5T_NATIVE_FLOAT, static_cast<hsize_t>(header_.projection_dim),
          projection, "projection");
  }
  for (std::size_t i = 0; i < s_->fields.size(); ++i)
    write(s_->fields[i].get(), s_->field_mem_types[i].get(), 0, field_rows[i], "fields");
  // Done last: a chunk marked done has all of its rows written.
  data::h5::handle fspace(H5Dget_space(s_->done.get()));
  const hsize_t off[1] = {static_cast<hsize_t>(chunk)}, one[1] = {1};
  H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, off, nullptr, one, nullptr);
  data::h5::handle mspace(H5Screate_simple(1, one, nullptr));
  const std::uint8_t flag = 1;
  data::h5::check_file_status(
      H5Dwrite(s_->done.get(), H5T_NATIVE_UINT8, mspace.get(), fspace.get(), H5P_DEFAULT, &flag),
      fmt::format("embedding file '{}': cannot mark chunk {} done", path_, chunk));
}

void embedding_writer::close() {
  if (!s_ || !s_->file) return;
  s_->field_mem_types.clear();
  s_->fields.clear();
  s_->backbone.reset();
  s_->projection.reset();
  s_->done.reset();
  const hid_t id = s_->file.release();
  data::h5::check_file_status(H5Fclose(id), fmt::format("cannot close embedding file '{}'", path_));
}

}  // namespace skyssl::embed
