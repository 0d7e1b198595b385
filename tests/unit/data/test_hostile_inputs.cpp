// Files from others (issue #19): FITS cutouts, HDF5 archives and catalogue CSVs whose headers
// lie are refused with one message naming the file and what is wrong, before anything is
// sized from them; HDF5 links and storage in other files are refused unless data.allow_external.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <hdf5.h>
#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "skyssl/core/error.hpp"
#include "skyssl/data/archive.hpp"
#include "skyssl/data/catalog_csv.hpp"
#include "skyssl/data/fits_image.hpp"
#include "tests/support/test_paths.hpp"
#include "tests/support/unwritten_dataset.hpp"
#include "tests/unit/data/fixture.hpp"

using namespace skyssl;
namespace fs = std::filesystem;

namespace {

// A FITS primary header of 80-character cards, padded to 2880 bytes, then `data` zero bytes.
std::string fits_bytes(const std::vector<std::string>& cards, std::size_t data) {
  std::string h;
  for (const auto& c : cards) h += fmt::format("{:<80}", c);
  h += fmt::format("{:<80}", "END");
  h.resize((h.size() + 2879) / 2880 * 2880, ' ');
  return h + std::string(data, '\0');
}

std::string image_header(int bitpix, const std::vector<long>& axes) {
  std::vector<std::string> cards = {fmt::format("SIMPLE  = {:>20}", "T"),
                                    fmt::format("BITPIX  = {:>20}", bitpix),
                                    fmt::format("NAXIS   = {:>20}", axes.size())};
  for (std::size_t k = 0; k < axes.size(); ++k)
    cards.push_back(fmt::format("NAXIS{:<3}= {:>20}", k + 1, axes[k]));
  return fits_bytes(cards, 0);
}

std::string gzip(const std::string& in) {
  z_stream z{};
  REQUIRE(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string out(deflateBound(&z, in.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&z, Z_FINISH) == Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

std::string fits_error(const std::string& bytes, std::size_t cap = data::max_fits_bytes) {
  std::vector<long> dims;
  try {
    data::parse_fits_image(bytes, "hostile.fits", dims, cap);
  } catch (const archive_error& e) {
    return e.what();
  }
  return "";
}

bool has(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("FITS: a valid 2-D image reads, gzipped or not") {
  auto bytes = image_header(-32, {3, 2});
  std::string px(3 * 2 * 4, '\0');
  px[0] = '\x3f';  // big-endian 1.0f = 3f 80 00 00
  px[1] = '\x80';
  bytes.replace(2880, 0, px);
  bytes.resize(2880 * 2, '\0');
  for (const auto& b : {bytes, gzip(bytes)}) {
    std::vector<long> dims;
    const auto v = data::parse_fits_image(b, "ok.fits", dims);
    REQUIRE(dims == std::vector<long>{3, 2});
    CHECK(v[0] == 1.0f);
    CHECK(v[5] == 0.0f);
  }
}

TEST_CASE("FITS: a 2,880-byte header asking for tens of GB is refused before allocation") {
  const auto msg = fits_error(image_header(-32, {100000, 100000, 3}));
  CHECK(has(msg, "'hostile.fits'"));
  CHECK(has(msg, "more than the file's"));
  // Axes whose product overflows 64 bits.
  CHECK(has(fits_error(image_header(-64, {4000000000L, 4000000000L, 4000000000L})), "2^63 pixels"));
  // An axis of zero or a negative one.
  CHECK(has(fits_error(image_header(-32, {0, 5})), "NAXIS1 is 0"));
  CHECK(has(fits_error(image_header(-32, {5, -3})), "hostile.fits"));
  CHECK(has(fits_error(image_header(-32, {5})), "has 1 axes"));
  CHECK(has(fits_error("SIMPLE = garbage"), "cannot open it as FITS"));
}

TEST_CASE("FITS: sizes that are not whole 2880-byte records (tests/fuzz/fits finding)") {
  // cfitsio reads whole records, also past the end of a memory buffer: libFuzzer found a
  // heap-buffer-overflow with a 5,212-byte file. Unpadded files whose pixels are all there
  // read; ones whose pixels are cut are refused as truncated.
  auto bytes = image_header(-32, {3, 2});
  bytes += std::string(3 * 2 * 4, '\0');  // no padding to 2880
  std::vector<long> dims;
  CHECK(data::parse_fits_image(bytes, "unpadded.fits", dims).size() == 6);
  bytes.resize(bytes.size() - 5);
  const auto msg = fits_error(bytes);
  CHECK(has(msg, "'hostile.fits': truncated: its pixels need 2904 bytes, the file has 2899"));
  // The fuzzer's own input, kept as tests/fuzz/fits/corpus/regression-record-past-end.
  std::ifstream in(skyssl::test::source_dir() / "tests/fuzz/fits/corpus/regression-record-past-end",
                   std::ios::binary);
  const std::string found((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(found.size() == 5212);
  // Its pixels lie within its 5,212 bytes: it reads (the overflow was in the last record read;
  // fuzz_fits replays this input under ASan on every run).
  std::vector<long> found_dims;
  const auto px = data::parse_fits_image(found, "found.fits", found_dims);
  std::size_t n = 1;
  for (const long d : found_dims) n *= static_cast<std::size_t>(d);
  CHECK(px.size() == n);
}

TEST_CASE("FITS: .gz is inflated within a cap; damaged gzip is an error") {
  const auto big = image_header(-32, {512, 512});  // header only: the data is missing
  const std::string padded = big + std::string(512 * 512 * 4, '\0');
  CHECK(has(fits_error(gzip(padded), 64 << 10), "inflates to more than 65536 bytes"));
  auto cut = gzip(padded);
  cut.resize(cut.size() / 2);
  CHECK(has(fits_error(cut), "damaged or truncated"));
}

TEST_CASE("FITS: a path is a plain file, never cfitsio's extended-filename syntax") {
  const auto dir = skyssl::test::tmp_dir("hostile_fits");
  auto bytes = image_header(-32, {2, 2});
  bytes.resize(2880 * 2, '\0');
  std::ofstream(dir / "a.fits", std::ios::binary) << bytes;
  std::vector<long> dims;
  // "a.fits[0]" would be HDU 0 of a.fits to cfitsio; here it is a file that does not exist.
  try {
    data::read_fits_image(dir / "a.fits[0]", dims);
    FAIL("extended syntax was honoured");
  } catch (const archive_error& e) {
    CHECK(has(e.what(), "a.fits[0]' does not exist"));
  }
  std::ofstream(dir / "b.fits[1]", std::ios::binary) << bytes;  // a file of that very name
  CHECK(data::read_fits_image(dir / "b.fits[1]", dims).size() == 4);
  try {
    data::read_fits_image(dir, dims);
    FAIL("a directory was read");
  } catch (const archive_error& e) {
    CHECK(has(e.what(), "is not a regular file"));
  }
}

namespace {

// An HDF5 file with an `images` dataset of the given dims, chunked and never written (so any
// shape costs nothing on disk), plus the attributes an archive needs.
void sparse_images(const fs::path& path, std::vector<hsize_t> dims) {
  const hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  // A chunk may not exceed a fixed dimension: a zero-sized image is contiguous (and empty).
  std::vector<hsize_t> chunk;
  if (std::find(dims.begin(), dims.end(), 0) == dims.end()) chunk = {1, 1, 1, 1};
  REQUIRE(skyssl::test::unwritten_dataset(f, "images", dims, chunk));
  H5Fclose(f);
}

// A file whose 4x3x4x5 float32 `images` holds no data of its own: `place(dcpl, space)` says
// where it lies (external raw storage, a virtual mapping).
template <class Place>
void images_placed(const fs::path& path, Place place) {
  const hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  const hsize_t dims[4] = {4, 3, 4, 5};
  const hid_t space = H5Screate_simple(4, dims, nullptr);
  const hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  REQUIRE(place(dcpl, space) >= 0);
  H5Dclose(H5Dcreate2(f, "images", H5T_IEEE_F32LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT));
  H5Pclose(dcpl);
  H5Sclose(space);
  H5Fclose(f);
}

std::string archive_error_of(const fs::path& path, bool allow_external = false) {
  data::archive_options o;
  o.paths = {path.string()};
  o.pixel_scale = 0.3;
  o.bands = {"g", "r", "z"};
  o.allow_external = allow_external;
  try {
    data::archive a(o);
  } catch (const archive_error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("archive: zero, huge and absurd shapes are refused naming the file") {
  const auto dir = skyssl::test::tmp_dir("hostile_h5");
  struct shape_case {
    std::vector<hsize_t> dims;
    const char* says;
  };
  for (const auto& [dims, says] : std::vector<shape_case>{
           {{4, 3, 0, 8}, "between 1 and 2^31-1"},              // H = 0 (inspect died of SIGFPE)
           {{4, 3, 8, 0}, "between 1 and 2^31-1"},              // W = 0
           {{4, 3, 2147483648ULL, 1}, "between 1 and 2^31-1"},  // truncated to int before
           {{4, 3, 2147483647ULL, 1000}, "cannot come from a file"},
           {{1ULL << 62, 3, 1, 1}, "rows is absurd"},  // the sparse 2^62-row file
       }) {
    const auto p = dir / "shape.h5";
    sparse_images(p, dims);
    const auto msg = archive_error_of(p);
    CAPTURE(msg);
    CHECK(has(msg, "'" + p.string() + "'"));
    CHECK(has(msg, says));
  }
  // A sparse archive of plausible size (a file being filled) is still read.
  const auto ok = dir / "ok.h5";
  sparse_images(ok, {4000, 3, 8, 8});
  CHECK(archive_error_of(ok) == "");
  // A hole holds no pixels: a contiguous dataset given its extent at creation has a GiB of
  // apparent size in a few kilobytes on disk, and one row of it would be allocated whole.
  const auto holed = dir / "holed.h5";
  {
    const hid_t f = H5Fcreate(holed.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    REQUIRE(skyssl::test::unwritten_dataset(f, "images", {1, 3, 16384, 8192}, {}, true));
    H5Fclose(f);
  }
  REQUIRE(fs::file_size(holed) > (1ULL << 30));
  const auto msg = archive_error_of(holed);
  CAPTURE(msg);
  CHECK(has(msg, "'" + holed.string() + "'"));
  CHECK(has(msg, "cannot come from a file"));
}

TEST_CASE("archive: external links, external storage and virtual datasets need allow_external") {
  const auto dir = skyssl::test::tmp_dir("hostile_external");
  const auto target = dir / "target.h5";
  skyssl::test::write_test_archive(target.string(), 0, 4);
  // images as an external link into target.h5.
  const auto linked = dir / "linked.h5";
  {
    const hid_t f = H5Fcreate(linked.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    REQUIRE(H5Lcreate_external(target.c_str(), "images", f, "images", H5P_DEFAULT, H5P_DEFAULT) >=
            0);
    H5Fclose(f);
  }
  auto msg = archive_error_of(linked);
  CHECK(has(msg, "'" + linked.string() + "'"));
  CHECK(has(msg, "'images' is an external link"));
  CHECK(has(msg, "data.allow_external = true"));
  CHECK(archive_error_of(linked, true) == "");
  // Raw data in an external file (any local file read as pixels).
  const auto ext = dir / "external.h5";
  std::ofstream(dir / "secret.bin", std::ios::binary) << std::string(4 * 3 * 4 * 5 * 4, 'x');
  images_placed(ext, [&](hid_t dcpl, hid_t) {
    return H5Pset_external(dcpl, (dir / "secret.bin").c_str(), 0, 4 * 3 * 4 * 5 * 4);
  });
  msg = archive_error_of(ext);
  CHECK(has(msg, "'" + ext.string() + "'"));
  CHECK(has(msg, "stored in external files"));
  // A virtual dataset mapping target.h5's images.
  const auto vds = dir / "virtual.h5";
  images_placed(vds, [&](hid_t dcpl, hid_t space) {
    return H5Pset_virtual(dcpl, space, target.c_str(), "images", space);
  });
  msg = archive_error_of(vds);
  CHECK(has(msg, "'" + vds.string() + "'"));
  CHECK(has(msg, "virtual dataset"));
}

TEST_CASE("catalogue CSV: RFC 4180 quoting, exact 64-bit ids, bad values named by row") {
  const auto c = data::parse_catalog_csv(
      "objid,name,ra\n"
      "# a comment\n"
      "1237648720693755918,\"NGC 1, the \"\"first\"\"\",10.5\n"
      "\n"
      "9223372036854775807,\"two\nlines\",11\n",
      "cat.csv");
  REQUIRE(c.rows.size() == 2);
  CHECK(c.rows[0][1] == "NGC 1, the \"first\"");
  CHECK(c.rows[1][1] == "two\nlines");
  CHECK(c.lines[1] == 6);
  const auto id = data::type_column(c, 0, true);
  REQUIRE(id.type == data::catalog_column::integer);
  CHECK(id.ints[0] == 1237648720693755918LL);  // 2^53 < id: a double would change it
  CHECK(id.ints[1] == 9223372036854775807LL);
  CHECK(data::type_column(c, 1, true).type == data::catalog_column::text);
  CHECK(data::type_column(c, 2, false).type == data::catalog_column::real);

  auto id_error = [](const std::string& value) {
    const auto cat = data::parse_catalog_csv("id,ra\n1,2\n" + value + ",3\n", "ids.csv");
    try {
      data::type_column(cat, 0, true);
    } catch (const data_error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  for (const char* v : {"nan", "inf", "-inf", "1.5", "1e18"}) {
    const auto msg = id_error(v);
    CAPTURE(msg);
    CHECK(has(msg, "catalogue 'ids.csv' data row 2 (line 3): column 'id'"));
    CHECK(has(msg, "not an integer"));
  }
  CHECK(has(id_error("9223372036854775808"), "outside the 64-bit range"));
  CHECK_THROWS_WITH_AS(data::parse_catalog_csv("a,b\n1,\"open\n", "q.csv"),
                       doctest::Contains("'q.csv'"), data_error);
  CHECK_THROWS_WITH_AS(data::parse_catalog_csv("a,b\n1,\"x\"y\n", "q.csv"),
                       doctest::Contains("line 2"), data_error);
  CHECK_THROWS_WITH_AS(data::parse_catalog_csv("a,b\n1,2,3\n", "q.csv"),
                       doctest::Contains("line 2: 3 values, but the header has 2 columns"),
                       data_error);
  CHECK_THROWS_WITH_AS(data::parse_catalog_csv("a,b\n", "q.csv"), doctest::Contains("no rows"),
                       data_error);
}
