// libFuzzer: HDF5 survey archives (data/archive) built by the structure-aware generator
// (common/h5_builder): any dims for `images` (0, 2^31, 2^62 rows, ...), dtypes, layouts,
// partly written or sparse data, fields of right or wrong length and rank, attributes of every
// kind, links and foreign storage. Each input opens the archive with direct reads on or off and
// data.allow_external on or off, then reads a few rows and a column. Checked: no memory error,
// no exception but skyssl::error, no huge allocation (libFuzzer's -rss_limit_mb and
// -malloc_limit_mb), no hang (-timeout), nothing read through a link or foreign storage
// unless allow_external, and no HDF5 id left open by the generator or the archive.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <set>
#include <vector>

#include "skyssl/data/archive.hpp"
#include "tests/fuzz/common/fuzz_support.hpp"
#include "tests/fuzz/common/h5_builder.hpp"

namespace fs = std::filesystem;
using skyssl::fuzz::h5_builder;

namespace {

// A small valid file that links and virtual datasets may point at.
const fs::path& other_file() {
  static const fs::path p = [] {
    const auto path = skyssl::fuzz::scratch() / "other.h5";
    const hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    const hsize_t d[4] = {4, 1, 2, 2};
    const hid_t s = H5Screate_simple(4, d, nullptr);
    const hid_t ds =
        H5Dcreate2(f, "images", H5T_IEEE_F32LE, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    const std::vector<float> px(16, 2.5f);
    H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, px.data());
    H5Dclose(ds);
    H5Sclose(s);
    H5Fclose(f);
    return path;
  }();
  return p;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  const auto path = skyssl::fuzz::scratch() / "archive.h5";
  const auto& other = other_file();
  std::vector<hsize_t> dims;
  {
    h5_builder b(in, path);
    if (b.file() < 0) return 0;
    const int rank =
        in.ConsumeIntegralInRange<int>(0, 8) == 0 ? in.ConsumeIntegralInRange<int>(1, 5) : 4;
    dims.assign(static_cast<std::size_t>(rank), 0);
    for (auto& d : dims) d = in.ConsumeBool() ? in.ConsumeIntegralInRange<hsize_t>(1, 12) : b.dim();
    const bool images_foreign = in.ConsumeIntegralInRange<int>(0, 9) == 0;
    if (images_foreign)
      b.foreign(b.file(), "images", other);
    else
      b.dataset(b.file(), "images", dims);
    const hsize_t rows = dims.empty() ? 0 : dims[0];
    const char* names[] = {"ebv", "objid", "ra", "psfsize_g", "wide"};
    const int fields = in.ConsumeIntegralInRange<int>(0, 4);
    for (int k = 0; k < fields; ++k) {
      std::vector<hsize_t> fd = {rows};
      const int shape = in.ConsumeIntegralInRange<int>(0, 5);
      if (shape == 1) fd[0] = rows + 1;
      if (shape == 2) fd[0] = b.dim();
      if (shape == 3) fd.push_back(2);
      b.dataset(b.file(), names[k], fd);
    }
    for (const char* a : {"bands", "pixel_scale", "survey"})
      if (in.ConsumeBool()) b.attribute(b.file(), a);
    if (in.ConsumeIntegralInRange<int>(0, 4) == 0) b.foreign(b.file(), "linked", other);
  }
  skyssl::fuzz::expect_no_open_h5("the generator");
  skyssl::data::archive_options o;
  o.paths = {path.string()};
  o.direct_reads = in.ConsumeBool();
  o.allow_external = in.ConsumeIntegralInRange<int>(0, 3) == 0;
  // Bands for the channel count the file declares (else the archive needs a 'bands' attribute).
  if (in.ConsumeBool() && dims.size() == 4 && dims[1] >= 1 && dims[1] <= 16)
    for (hsize_t c = 0; c < dims[1]; ++c)
      o.bands.push_back(std::string(1, static_cast<char>('a' + c)));
  if (in.ConsumeBool()) o.pixel_scale = 0.262;
  skyssl::fuzz::expect_only_skyssl_errors([&] {
    const skyssl::data::archive a(o);
    if (a.channels() < 1 || a.height() < 1 || a.width() < 1) __builtin_trap();
    if (a.size() <= 0) return;
    std::set<std::int64_t> pick;
    const int n = in.ConsumeIntegralInRange<int>(1, 3);
    for (int k = 0; k < n; ++k)
      pick.insert(in.ConsumeIntegralInRange<std::int64_t>(0, a.size() - 1));
    const std::vector<std::int64_t> rows(pick.begin(), pick.end());
    const std::size_t pix = static_cast<std::size_t>(a.channels()) * a.height() * a.width();
    std::vector<float> out(rows.size() * pix);
    a.read_images_rows(rows, out.data());
    for (const auto& d : a.files().front().datasets)
      if (d.name != "images" && d.shape.size() == 1) {
        std::vector<double> col(rows.size());
        a.read_column_rows(d.name, rows, col.data());
        break;
      }
  });
  skyssl::fuzz::expect_no_open_h5("the archive reader");
  return 0;
}
