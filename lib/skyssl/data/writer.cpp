#include "skyssl/data/writer.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "skyssl/core/durable_file.hpp"
#include "skyssl/core/error.hpp"
#include "skyssl/data/h5.hpp"

namespace skyssl::data {

struct archive_writer::handles {
  h5::handle file, images, dxpl;
  std::vector<h5::handle> fields;
  // The file is written under a unique temporary name beside opts_.path and renamed over it
  // by close(): an existing archive (even one that is an input) is never truncated before the
  // new one is complete. Rank 0 owns the temporary; in collective mode the others get its
  // name by MPI_Bcast (MPI_COMM_WORLD, as the MPI-IO driver already is: see architecture.md).
  std::unique_ptr<atomic_output> out;
  std::string temp;
  int rank = 0;
};

namespace {

hid_t file_type(field_type t) {
  switch (t) {
    case field_type::f32:
      return H5T_IEEE_F32LE;
    case field_type::f64:
      return H5T_IEEE_F64LE;
    case field_type::i32:
      return H5T_STD_I32LE;
    case field_type::i64:
      return H5T_STD_I64LE;
  }
  return H5T_IEEE_F32LE;
}

hid_t mem_type(field_type t) {
  switch (t) {
    case field_type::f32:
      return H5T_NATIVE_FLOAT;
    case field_type::f64:
      return H5T_NATIVE_DOUBLE;
    case field_type::i32:
      return H5T_NATIVE_INT32;
    case field_type::i64:
      return H5T_NATIVE_INT64;
  }
  return H5T_NATIVE_FLOAT;
}

// Same creation properties on every rank and in every run: no timestamps, space allocated at
// creation, never filled (every byte is written by us).
h5::handle dataset_props() {
  h5::handle dcpl(H5Pcreate(H5P_DATASET_CREATE));
  H5Pset_obj_track_times(dcpl.get(), 0);
  H5Pset_alloc_time(dcpl.get(), H5D_ALLOC_TIME_EARLY);
  H5Pset_fill_time(dcpl.get(), H5D_FILL_TIME_NEVER);
  H5Pset_layout(dcpl.get(), H5D_CONTIGUOUS);
  return dcpl;
}

}  // namespace

archive_writer::archive_writer(const writer_options& options)
    : opts_(options), h_(std::make_unique<handles>()) {
  std::lock_guard<std::recursive_mutex> lock(h5::mutex());
  h5::quiet();
  if (opts_.count < 1 || opts_.channels < 1 || opts_.height < 1 || opts_.width < 1)
    throw archive_error(fmt::format("archive '{}': cannot write {} images of {}x{}x{}", opts_.path,
                                    opts_.count, opts_.channels, opts_.height, opts_.width));
  h5::handle fapl(H5Pcreate(H5P_FILE_ACCESS));
  if (opts_.collective) H5Pset_fapl_mpio(fapl.get(), MPI_COMM_WORLD, MPI_INFO_NULL);
  h5::handle fcpl(H5Pcreate(H5P_FILE_CREATE));
  H5Pset_obj_track_times(fcpl.get(), 0);
  if (opts_.collective) MPI_Comm_rank(MPI_COMM_WORLD, &h_->rank);
  if (h_->rank == 0) {
    h_->out = std::make_unique<atomic_output>(opts_.path);
    h_->temp = h_->out->temp_path().string();
  }
  if (opts_.collective) {
    int n = static_cast<int>(h_->temp.size());
    MPI_Bcast(&n, 1, MPI_INT, 0, MPI_COMM_WORLD);
    h_->temp.resize(static_cast<std::size_t>(n));
    MPI_Bcast(h_->temp.data(), n, MPI_CHAR, 0, MPI_COMM_WORLD);
  }
  h_->file =
      h5::handle(h5::check(H5Fcreate(h_->temp.c_str(), H5F_ACC_TRUNC, fcpl.get(), fapl.get()),
                           fmt::format("cannot create archive file '{}'", opts_.path)));
  h_->dxpl = h5::handle(H5Pcreate(H5P_DATASET_XFER));
  if (opts_.collective) H5Pset_dxpl_mpio(h_->dxpl.get(), H5FD_MPIO_COLLECTIVE);
  const auto dcpl = dataset_props();
  const hsize_t dims[4] = {static_cast<hsize_t>(opts_.count), static_cast<hsize_t>(opts_.channels),
                           static_cast<hsize_t>(opts_.height), static_cast<hsize_t>(opts_.width)};
  {
    h5::handle space(H5Screate_simple(4, dims, nullptr));
    h_->images =
        h5::handle(h5::check(H5Dcreate2(h_->file.get(), "images", H5T_IEEE_F32LE, space.get(),
                                        H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                             fmt::format("archive '{}': cannot create 'images'", opts_.path)));
  }
  for (const auto& f : opts_.fields) {
    h5::handle space(H5Screate_simple(1, dims, nullptr));
    h_->fields.emplace_back(
        h5::check(H5Dcreate2(h_->file.get(), f.name.c_str(), file_type(f.type), space.get(),
                             H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                  fmt::format("archive '{}': cannot create field '{}'", opts_.path, f.name)));
  }
  h5::write_string_attr(h_->file.get(), "bands", opts_.bands);
  h5::write_double_attr(h_->file.get(), "pixel_scale", opts_.pixel_scale);
  h5::write_string_attr(h_->file.get(), "survey", opts_.survey);
  // 0 until close() has written every row: an archive left by a writer that stopped part-way
  // is refused by the reader instead of read as if it were whole.
  h5::write_double_attr(h_->file.get(), complete_attribute, 0.0);
  // On disk now: a writer killed later leaves a temporary that says it is unfinished.
  h5::check_status(H5Fflush(h_->file.get(), H5F_SCOPE_GLOBAL),
                   fmt::format("cannot flush archive '{}'", opts_.path));
}

archive_writer::~archive_writer() {
  // Not closed: an error or a stop signal came first. The temporary goes (h_->out's
  // destructor); an existing archive of that name is left as it was.
  std::lock_guard<std::recursive_mutex> lock(h5::mutex());
  h_->fields.clear();
  h_->images.reset();
  h_->dxpl.reset();
  h_->file.reset();
}

void archive_writer::close() {
  std::lock_guard<std::recursive_mutex> lock(h5::mutex());
  if (!h_->file) return;
  {
    const double one = 1.0;
    h5::handle attr(h5::check(H5Aopen(h_->file.get(), complete_attribute, H5P_DEFAULT),
                              fmt::format("archive '{}': no {}", opts_.path, complete_attribute)));
    h5::check_status(H5Awrite(attr.get(), H5T_NATIVE_DOUBLE, &one),
                     fmt::format("archive '{}': cannot mark it complete", opts_.path));
  }
  h_->fields.clear();
  h_->images.reset();
  h_->dxpl.reset();
  const hid_t id = h_->file.release();
  h5::check_status(H5Fclose(id), fmt::format("cannot close archive '{}'", opts_.path));
  if (h_->out) h_->out->commit();  // fsync, rename over opts_.path, fsync the directory
  if (opts_.collective) MPI_Barrier(MPI_COMM_WORLD);  // every rank returns once it exists
}

void archive_writer::write(int dataset, int rank, std::int64_t start, std::int64_t count,
                           const void* data, const std::string& name) {
  std::lock_guard<std::recursive_mutex> lock(h5::mutex());
  if (!h_->file) throw archive_error(fmt::format("archive '{}' is already closed", opts_.path));
  const hid_t dset =
      dataset < 0 ? h_->images.get() : h_->fields[static_cast<std::size_t>(dataset)].get();
  const hid_t mtype = dataset < 0 ? H5T_NATIVE_FLOAT
                                  : mem_type(opts_.fields[static_cast<std::size_t>(dataset)].type);
  if (start < 0 || count < 0 || start + count > opts_.count)
    throw archive_error(fmt::format("archive '{}': rows [{}, {}) of '{}' are outside [0, {})",
                                    opts_.path, start, start + count, name, opts_.count));
  h5::handle fspace(H5Dget_space(dset));
  hsize_t off[4] = {static_cast<hsize_t>(start), 0, 0, 0};
  hsize_t cnt[4] = {static_cast<hsize_t>(count), static_cast<hsize_t>(opts_.channels),
                    static_cast<hsize_t>(opts_.height), static_cast<hsize_t>(opts_.width)};
  hsize_t mdims[4] = {static_cast<hsize_t>(std::max<std::int64_t>(count, 1)), cnt[1], cnt[2],
                      cnt[3]};
  h5::handle mspace(H5Screate_simple(rank, mdims, nullptr));
  if (count == 0) {
    H5Sselect_none(fspace.get());
    H5Sselect_none(mspace.get());
  } else {
    H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, off, nullptr, cnt, nullptr);
  }
  h5::check_status(H5Dwrite(dset, mtype, mspace.get(), fspace.get(), h_->dxpl.get(), data),
                   fmt::format("archive '{}': cannot write rows [{}, {}) of '{}'", opts_.path,
                               start, start + count, name));
}

void archive_writer::write_images(std::int64_t start, std::int64_t count, const float* data) {
  write(-1, 4, start, count, data, "images");
}

void archive_writer::write_field(const std::string& name, std::int64_t start, std::int64_t count,
                                 const void* data) {
  for (std::size_t i = 0; i < opts_.fields.size(); ++i)
    if (opts_.fields[i].name == name)
      return write(static_cast<int>(i), 1, start, count, data, name);
  throw archive_error(fmt::format("archive '{}': no field '{}' was declared", opts_.path, name));
}

}  // namespace skyssl::data
