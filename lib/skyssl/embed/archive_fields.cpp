#include "skyssl/embed/archive_fields.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "skyssl/core/error.hpp"
#include "skyssl/data/h5.hpp"

namespace skyssl::embed {

using data::h5::handle;

struct archive_fields::state {
  struct file {
    std::string path;
    std::int64_t first_row = 0, rows = 0;
    data::h5::handle handle;
    std::vector<data::h5::handle> datasets;  // one per column
  };
  std::vector<file> files;
  std::vector<data::h5::handle> file_types, mem_types;
};

archive_fields::archive_fields(const data::archive& archive, const std::vector<std::string>& names)
    : s_(std::make_unique<state>()) {
  data::h5::quiet();
  const auto& infos = archive.files();
  std::vector<std::string> chosen = names;
  if (chosen.empty()) {
    const auto& first = infos.at(0);
    for (const auto& d : first.datasets) {
      if (d.shape.size() != 1 || d.shape[0] != first.rows) continue;
      const bool numeric = d.dtype.rfind("float", 0) == 0 || d.dtype.rfind("int", 0) == 0 ||
                           d.dtype.rfind("uint", 0) == 0;
      if (numeric) chosen.push_back(d.name);
    }
  }
  for (const auto& info : infos) {
    state::file f;
    f.path = info.path;
    f.first_row = info.first_row;
    f.rows = info.rows;
    f.handle = data::h5::handle(
        data::h5::check_file(H5Fopen(info.path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT),
                             fmt::format("cannot open archive file '{}'", info.path)));
    for (const auto& name : chosen) {
      if (H5Lexists(f.handle.get(), name.c_str(), H5P_DEFAULT) <= 0)
        throw data_error(fmt::format("archive file '{}' has no field '{}'", info.path, name));
      f.datasets.emplace_back(data::h5::check_file(
          H5Dopen2(f.handle.get(), name.c_str(), H5P_DEFAULT),
          fmt::format("archive file '{}': cannot open field '{}'", info.path, name)));
    }
    s_->files.push_back(std::move(f));
  }
  for (std::size_t i = 0; i < chosen.size(); ++i) {
    const hid_t d = s_->files.front().datasets[i].get();
    data::h5::handle t(H5Dget_type(d));
    const auto cls = H5Tget_class(t.get());
    if (cls != H5T_INTEGER && cls != H5T_FLOAT)
      throw data_error(fmt::format("archive file '{}': field '{}' is not numeric",
                                   s_->files.front().path, chosen[i]));
    s_->mem_types.emplace_back(H5Tget_native_type(t.get(), H5T_DIR_ASCEND));
    s_->file_types.push_back(std::move(t));
    columns_.push_back({chosen[i], static_cast<std::int64_t>(s_->file_types.back().get())});
  }
}

archive_fields::~archive_fields() = default;

std::size_t archive_fields::row_bytes(std::size_t i) const {
  return H5Tget_size(s_->mem_types.at(i).get());
}

void archive_fields::read(std::int64_t start, std::int64_t count,
                          std::vector<std::vector<char>>& out) const {
  out.resize(columns_.size());
  for (std::size_t i = 0; i < columns_.size(); ++i)
    out[i].resize(static_cast<std::size_t>(count) * row_bytes(i));
  for (const auto& f : s_->files) {
    const std::int64_t lo = std::max(start, f.first_row);
    const std::int64_t hi = std::min(start + count, f.first_row + f.rows);
    if (lo >= hi) continue;
    const hsize_t off[1] = {static_cast<hsize_t>(lo - f.first_row)};
    const hsize_t cnt[1] = {static_cast<hsize_t>(hi - lo)};
    for (std::size_t i = 0; i < columns_.size(); ++i) {
      const hid_t d = f.datasets[i].get();
      data::h5::handle fspace(H5Dget_space(d));
      H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, off, nullptr, cnt, nullptr);
      data::h5::handle mspace(H5Screate_simple(1, cnt, nullptr));
      data::h5::check_file_status(
          H5Dread(d, s_->mem_types[i].get(), mspace.get(), fspace.get(), H5P_DEFAULT,
                  out[i].data() + static_cast<std::size_t>(lo - start) * row_bytes(i)),
          fmt::format("archive file '{}': cannot read rows [{}, {}) of field '{}'", f.path,
                      lo - f.first_row, hi - f.first_row, columns_[i].name));
    }
  }
}

}  // namespace skyssl::embed
