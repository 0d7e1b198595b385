// The archive: layouts, attribute fallbacks, path forms, and clear errors for bad files.
#include <doctest/doctest.h>
#include <hdf5.h>

#include <filesystem>
#include <fstream>

#include "fixture.hpp"
#include "skyssl/core/config.hpp"
#include "skyssl/core/error.hpp"
#include "skyssl/data/archive.hpp"
#include "skyssl/data/options.hpp"
#include "tests/support/test_paths.hpp"

namespace fs = std::filesystem;
using skyssl::archive_error;
using skyssl::data::archive;
using skyssl::data::archive_options;

namespace {

archive_options opts(const std::string& path) {
  archive_options o;
  o.paths = {path};
  return o;
}

// A raw HDF5 file with one dataset of the given type and shape (all ones), plus 1-D fields.
// Element i of a raw_file dataset: distinct, and all above 32767, so a signed or
// byte-swapped read of uint16 shows.
unsigned short raw_value(hsize_t i) { return static_cast<unsigned short>(40000 + 7 * i); }

void raw_file(const std::string& path, const char* name, hid_t type, std::vector<hsize_t> dims,
              std::vector<std::pair<std::string, hsize_t>> fields = {}) {
  const hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  auto make = [&](const char* n, hid_t t, const std::vector<hsize_t>& d) {
    const hid_t s = H5Screate_simple(static_cast<int>(d.size()), d.data(), nullptr);
    const hid_t ds = H5Dcreate2(f, n, t, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t total = 1;
    for (auto v : d) total *= v;
    // Distinct values, converted by HDF5 to the file type (raw_value() says which).
    std::vector<unsigned short> values(total);
    for (hsize_t i = 0; i < total; ++i) values[i] = raw_value(i);
    H5Dwrite(ds, H5T_NATIVE_USHORT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data());
    H5Dclose(ds);
    H5Sclose(s);
  };
  make(name, type, dims);
  for (const auto& [n, len] : fields) make(n.c_str(), H5T_NATIVE_FLOAT, {len});
  H5Fclose(f);
}

}  // namespace

TEST_CASE("archive: one file, attributes, fields and rows") {
  const auto dir = skyssl::test::tmp_dir("archive_basic");
  const auto p = (dir / "a.h5").string();
  skyssl::test::write_test_archive(p, 0, 10);
  const archive a(opts(p));
  CHECK(a.size() == 10);
  CHECK(a.channels() == 3);
  CHECK(a.height() == 4);
  CHECK(a.width() == 5);
  CHECK(a.bands() == std::vector<std::string>{"g", "r", "z"});
  CHECK(a.pixel_scale() == doctest::Approx(0.262));
  CHECK(a.survey() == "test");
  CHECK(a.field_dataset("ebv") == "ebv");
  CHECK(a.field_dataset("psfsize_r") == "psfsize_r");
  CHECK(a.field_dataset("z_spec").empty());
  std::vector<float> px(2 * 60);
  a.read_images(7, 2, px.data());
  CHECK(px[0] == skyssl::test::pixel_value(7, 0, 0, 0));
  CHECK(px[60 + 2 * 20 + 3 * 5 + 4] == skyssl::test::pixel_value(8, 2, 3, 4));
}

TEST_CASE("archive: glob and @listfile give one concatenation in order") {
  const auto dir = skyssl::test::tmp_dir("archive_multi");
  skyssl::test::write_test_archive((dir / "part-0.h5").string(), 0, 5);
  skyssl::test::write_test_archive((dir / "part-1.h5").string(), 5, 3);
  skyssl::test::write_test_archive((dir / "part-2.h5").string(), 8, 4);
  {
    std::ofstream list(dir / "list.txt");
    list << "# shards\npart-0.h5\n\npart-1.h5\npart-2.h5\n";
  }
  for (const std::string& spec :
       {(dir / "part-*.h5").string(), "@" + (dir / "list.txt").string()}) {
    const archive a(opts(spec));
    REQUIRE(a.size() == 12);
    CHECK(a.files().size() == 3);
    CHECK(a.file_of(4) == 0);
    CHECK(a.file_of(5) == 1);
    CHECK(a.file_of(11) == 2);
    // Rows across both file boundaries, in one call; sorted sparse rows too.
    std::vector<float> px(8 * 60);
    a.read_images(3, 8, px.data());
    for (int k = 0; k < 8; ++k)
      CHECK(px[static_cast<std::size_t>(k) * 60 + 61 % 60] ==
            skyssl::test::pixel_value(3 + k, 0, 0, 1));
    const std::vector<std::int64_t> rows{0, 1, 4, 5, 9, 10, 11};
    std::vector<double> ebv(rows.size());
    a.read_column_rows("ebv", rows, ebv.data());
    for (std::size_t k = 0; k < rows.size(); ++k) CHECK(ebv[k] == doctest::Approx(0.001 * rows[k]));
  }
  CHECK_THROWS_WITH_AS(archive(opts((dir / "nope-*.h5").string())),
                       doctest::Contains("matches no files"), archive_error);
  CHECK_THROWS_WITH_AS(archive(opts("@" + (dir / "nolist.txt").string())),
                       doctest::Contains("nolist.txt' cannot be read"), archive_error);
}

TEST_CASE("archive: missing attributes come from options, then presets by channel count") {
  const auto dir = skyssl::test::tmp_dir("archive_attrs");
  const auto p = (dir / "bare.h5").string();
  raw_file(p, "images", H5T_NATIVE_FLOAT, {4, 5, 8, 8}, {{"e_bv", 4}, {"specz_redshift", 4}});
  {
    const archive a(opts(p));  // 5 channels: the SDSS preset
    CHECK(a.bands() == std::vector<std::string>{"u", "g", "r", "i", "z"});
    CHECK(a.pixel_scale() == doctest::Approx(0.396));
    CHECK(a.survey() == "sdss");
    CHECK(a.field_dataset("ebv") == "e_bv");  // known alias
    CHECK(a.field_dataset("z_spec") == "specz_redshift");
  }
  auto o = opts(p);
  o.bands = {"a", "b", "c", "d", "e"};
  o.pixel_scale = 0.5;
  o.fields["ebv"] = "specz_redshift";
  {
    const archive a(o);
    CHECK(a.bands() == o.bands);
    CHECK(a.pixel_scale() == 0.5);
    CHECK(a.field_dataset("ebv") == "specz_redshift");  // explicit mapping wins
  }
  o.fields["ebv"] = "EBV";
  CHECK_THROWS_WITH_AS(archive{o}, doctest::Contains("has no dataset 'EBV' (data.fields.ebv)"),
                       archive_error);
  const auto q = (dir / "four.h5").string();
  raw_file(q, "images", H5T_NATIVE_FLOAT, {2, 4, 8, 8});
  CHECK_THROWS_WITH_AS(archive(opts(q)),
                       doctest::Contains("no 'bands' attribute and 4 channels; set data.bands"),
                       archive_error);
}

TEST_CASE("archive: fixed-length, null-padded string attributes keep every character") {
  // What h5py writes for np.array([b"g", b"r", b"z"]) and np.bytes_("decals"): strings of
  // exactly their stored size, no terminator. Read into a same-size null-terminated type,
  // HDF5 drops the last character ("g" -> "").
  const auto dir = skyssl::test::tmp_dir("archive_fixed_strings");
  const auto p = (dir / "fixed.h5").string();
  raw_file(p, "images", H5T_NATIVE_FLOAT, {2, 3, 8, 8});
  const hid_t f = H5Fopen(p.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  auto fixed_attr = [&](const char* name, const std::string& bytes, std::size_t size,
                        hsize_t count) {
    const hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, size);
    H5Tset_strpad(t, H5T_STR_NULLPAD);
    const hid_t s = count ? H5Screate_simple(1, &count, nullptr) : H5Screate(H5S_SCALAR);
    const hid_t a = H5Acreate2(f, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, t, bytes.data());
    H5Aclose(a);
    H5Sclose(s);
    H5Tclose(t);
  };
  fixed_attr("bands", "grz", 1, 3);
  fixed_attr("survey", "decals", 6, 0);
  H5Fclose(f);
  const archive a(opts(p));
  CHECK(a.bands() == std::vector<std::string>{"g", "r", "z"});
  CHECK(a.survey() == "decals");
}

TEST_CASE("archive: uint16 images are converted to float32") {
  const auto dir = skyssl::test::tmp_dir("archive_u16");
  const auto p = (dir / "u16.h5").string();
  raw_file(p, "images", H5T_NATIVE_USHORT, {2, 3, 4, 4});
  const archive a(opts(p));
  CHECK(a.files()[0].image_dtype == "uint16");
  std::vector<float> px(2 * 48);
  a.read_images(0, 2, px.data());
  for (std::size_t i = 0; i < px.size(); ++i) {
    INFO("pixel ", i);
    CHECK(px[i] == static_cast<float>(raw_value(i)));
  }
  // A row offset reads the second image, not the first again.
  a.read_images(1, 1, px.data());
  CHECK(px[0] == static_cast<float>(raw_value(48)));
}

TEST_CASE("archive: bad files give errors naming the culprit") {
  const auto dir = skyssl::test::tmp_dir("archive_bad");
  const auto missing = (dir / "missing.h5").string();
  CHECK_THROWS_WITH_AS(archive(opts(missing)),
                       doctest::Contains(("'" + missing + "' does not exist").c_str()),
                       archive_error);

  const auto text = (dir / "text.h5").string();
  std::ofstream(text) << "not an HDF5 file\n";
  CHECK_THROWS_WITH_AS(archive(opts(text)),
                       doctest::Contains(("'" + text + "' is not a readable HDF5 file").c_str()),
                       archive_error);

  const auto trunc = (dir / "truncated.h5").string();
  skyssl::test::write_test_archive(trunc, 0, 50);
  fs::resize_file(trunc, fs::file_size(trunc) / 2);
  CHECK_THROWS_WITH_AS(archive(opts(trunc)), doctest::Contains((trunc).c_str()), archive_error);

  const auto noimg = (dir / "noimages.h5").string();
  raw_file(noimg, "pixels", H5T_NATIVE_FLOAT, {2, 3, 4, 4});
  CHECK_THROWS_WITH_AS(
      archive(opts(noimg)),
      doctest::Contains(("'" + noimg + "' has no dataset 'images' (it has: pixels)").c_str()),
      archive_error);

  const auto rank3 = (dir / "rank3.h5").string();
  raw_file(rank3, "images", H5T_NATIVE_FLOAT, {2, 4, 4});
  CHECK_THROWS_WITH_AS(archive(opts(rank3)),
                       doctest::Contains("dataset 'images' has rank 3 (shape 2x4x4), expected 4"),
                       archive_error);

  const auto i8 = (dir / "int8.h5").string();
  raw_file(i8, "images", H5T_NATIVE_INT8, {2, 3, 4, 4});
  CHECK_THROWS_WITH_AS(archive(opts(i8)),
                       doctest::Contains(("'" + i8 + "': dataset 'images' has dtype int8").c_str()),
                       archive_error);

  const auto len = (dir / "fieldlen.h5").string();
  raw_file(len, "images", H5T_NATIVE_FLOAT, {6, 3, 4, 4}, {{"ra", 6}, {"z_spec", 5}});
  CHECK_THROWS_WITH_AS(
      archive(opts(len)),
      doctest::Contains(
          ("'" + len + "': field 'z_spec' has length 5 but 'images' has 6 rows").c_str()),
      archive_error);

  const auto other = (dir / "other-shape.h5").string();
  raw_file(other, "images", H5T_NATIVE_FLOAT, {2, 3, 8, 8});
  const auto good = (dir / "good.h5").string();
  skyssl::test::write_test_archive(good, 0, 3);
  auto two = opts(good);
  two.paths.push_back(other);
  CHECK_THROWS_WITH_AS(archive{two}, doctest::Contains("all files of an archive must agree"),
                       archive_error);
}

TEST_CASE("data options from a config section") {
  auto cfg = skyssl::config::from_string(R"(
[data]
path = "shards/*.h5"
prefetch = 4
bands = ["u", "g", "r", "i", "z"]
pixel_scale = 0.396
[data.fields]
ebv = "e_bv"
z_spec = "specz_redshift"
)",
                                         "test");
  const auto o = skyssl::data::data_options_from(cfg);
  CHECK(o.archive.paths == std::vector<std::string>{"shards/*.h5"});
  CHECK(o.reader.prefetch == 4);
  CHECK(o.reader.nonfinite == skyssl::data::nonfinite_policy::error);
  CHECK(o.reader.read_threads == 2);
  CHECK(o.archive.direct_reads);
  CHECK(o.archive.fields.at("ebv") == "e_bv");
  CHECK(o.archive.fields.at("z_spec") == "specz_redshift");
  CHECK(o.archive.pixel_scale == 0.396);
  CHECK(o.archive.bands.size() == 5);
  cfg.reject_unread({"data"});  // every key was read
  cfg.apply_override("data.prefetch=0");
  CHECK_THROWS_WITH_AS(skyssl::data::data_options_from(cfg), doctest::Contains("data.prefetch"),
                       skyssl::config_error);
}

TEST_CASE("split_bands: commas, spaces, and one word split into letters") {
  using skyssl::data::split_bands;
  using bands = std::vector<std::string>;
  CHECK(split_bands("g,r,z") == bands{"g", "r", "z"});
  CHECK(split_bands(" g  r z ") == bands{"g", "r", "z"});
  CHECK(split_bands("grz") == bands{"g", "r", "z"});  // synth --bands: any one word
  CHECK(split_bands("u") == bands{"u"});
  // A file's attribute: one word is letters only when it has one per channel.
  CHECK(split_bands("grz", 3) == bands{"g", "r", "z"});
  CHECK(split_bands("grz", 4) == bands{"grz"});
  CHECK(split_bands("ha,oiii", 2) == bands{"ha", "oiii"});
}
