// End to end with the built skyssl-prep and with h5py as an independent reader/writer:
// synth output byte-identical for 1 and 2 ranks; h5py reads it; skyssl reads the DECaLS and
// SDSS layouts as h5py writes them (field names mapped by config); skyssl-prep exits non-zero
// with a message naming the culprit on bad archives.
#include <fmt/format.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "skyssl/core/config.hpp"
#include "skyssl/data/options.hpp"
#include "skyssl/data/shard_reader.hpp"
#include "tests/support/run_command.hpp"
#include "tests/support/test_paths.hpp"

// Last: torch pulls in glog, whose CHECK must not shadow doctest's.
#include <doctest/doctest.h>

namespace fs = std::filesystem;

namespace {

using skyssl::test::run_command;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string prep() { return (skyssl::test::binary_dir() / "apps/prep/skyssl-prep").string(); }
std::string script() {
  return (skyssl::test::source_dir() / "tests/integration/data/h5py_crosscheck.py").string();
}

}  // namespace

TEST_CASE("synth: byte-identical archives on 1 and 2 ranks, readable by h5py") {
  const auto dir = skyssl::test::tmp_dir("synth_ranks");
  // 65 galaxies in chunks of 8 on 2 ranks: rank 0 (32) joins its last collective write empty.
  for (int np : {1, 2}) {
    const auto out = dir / fmt::format("np{}.h5", np);
    const auto r = run_command(
        fmt::format(
            "{} -n {} --oversubscribe {} synth --out {} --count 65 --size 32 --seed 5 --chunk 8",
            skyssl::test::mpiexec(), np, prep(), out.string()),
        dir / fmt::format("np{}.log", np));
    INFO(r.output);
    REQUIRE(r.code() == 0);
    CHECK(r.output.find("galaxies/s") != std::string::npos);
  }
  const auto a = slurp(dir / "np1.h5"), b = slurp(dir / "np2.h5");
  REQUIRE(a.size() > 65 * 3 * 32 * 32 * 4);
  CHECK(a == b);  // the whole file, metadata included
  const auto r = run_command(fmt::format("{} {} check-synth {} 65 32", skyssl::test::python(),
                                         script(), (dir / "np1.h5").string()),
                             dir / "h5py.log");
  INFO(r.output);
  CHECK(r.code() == 0);
  const auto i = run_command(fmt::format("{} inspect {}", prep(), (dir / "np2.h5").string()),
                             dir / "inspect.log");
  INFO(i.output);
  CHECK(i.code() == 0);
  CHECK(i.output.find("images (65, 3, 32, 32)") != std::string::npos);
  CHECK(i.output.find("NaN/Inf pixels: 0") != std::string::npos);
}

TEST_CASE("skyssl reads the DECaLS and SDSS layouts written by h5py, as they are") {
  const auto dir = skyssl::test::tmp_dir("h5py_layouts");
  const auto r = run_command(
      fmt::format("{} {} write-layouts {}", skyssl::test::python(), script(), dir.string()),
      dir / "write.log");
  INFO(r.output);
  REQUIRE(r.code() == 0);
  {
    // DECaLS: canonical names already; no attributes, so the 3-channel preset applies.
    auto cfg = skyssl::config::from_string(
        fmt::format("[data]\npath = \"{}\"\n", (dir / "decals.h5").string()), "t");
    const auto o = skyssl::data::data_options_from(cfg);
    skyssl::data::shard_reader reader(o.archive, o.reader, 1, 2, 0, 1);
    CHECK(reader.source().bands() == std::vector<std::string>{"g", "r", "z"});
    CHECK(reader.source().pixel_scale() == doctest::Approx(0.262));
    for (int s = 0; s < 3; ++s) {
      const auto b = reader.next();
      for (int k = 0; k < 2; ++k) {
        const auto id = b.ids[k].item<std::int64_t>();
        CHECK(b.images[k][2][15][7].item<float>() == static_cast<float>(id * 1000 + 200 + 157));
        CHECK(b.ebv[k].item<float>() == doctest::Approx(0.01 * id));
        CHECK(b.psf_fwhm[k][1].item<float>() == doctest::Approx(1.1 + 0.01 * id));
      }
    }
  }
  {
    // SDSS: float16 images, e_bv / specz_redshift mapped by config.
    auto cfg = skyssl::config::from_string(
        fmt::format("[data]\npath = \"{}\"\nsurvey = \"sdss\"\n[data.fields]\nebv = "
                    "\"e_bv\"\nz_spec = \"specz_redshift\"\n",
                    (dir / "sdss.h5").string()),
        "t");
    const auto o = skyssl::data::data_options_from(cfg);
    skyssl::data::shard_reader reader(o.archive, o.reader, 1, 3, 0, 1);
    const auto& ar = reader.source();
    CHECK(ar.bands() == std::vector<std::string>{"u", "g", "r", "i", "z"});
    CHECK(ar.pixel_scale() == doctest::Approx(0.396));
    CHECK(ar.files()[0].image_dtype == "float16");
    CHECK(ar.field_dataset("z_spec") == "specz_redshift");
    const auto b = reader.next();
    for (int k = 0; k < 3; ++k) {
      const auto id = b.ids[k].item<std::int64_t>();
      const float expect = static_cast<float>((id * 1000 + 4 * 100 + 7 * 10 + 3) / 1000.0);
      CHECK(b.images[k][4][7][3].item<float>() == doctest::Approx(expect).epsilon(1e-3));
      CHECK(b.ebv[k].item<float>() == doctest::Approx(0.02 * id));
      CHECK(std::isnan(b.psf_fwhm[k][0].item<float>()));  // no psfsize fields: unknown
    }
  }
}

TEST_CASE("skyssl-prep: bad archives exit non-zero with the culprit named") {
  const auto dir = skyssl::test::tmp_dir("prep_bad");
  const auto missing = (dir / "missing.h5").string();
  auto r = run_command(fmt::format("{} inspect {}", prep(), missing), dir / "missing.log");
  CHECK(r.code() != 0);
  CHECK(r.output.find("'" + missing + "' does not exist") != std::string::npos);

  const auto text = (dir / "text.h5").string();
  std::ofstream(text) << "garbage";
  r = run_command(fmt::format("{} inspect {}", prep(), text), dir / "text.log");
  CHECK(r.code() != 0);
  CHECK(r.output.find("'" + text + "' is not a readable HDF5 file") != std::string::npos);

  r = run_command(fmt::format("{} synth --out {} --count 0", prep(), (dir / "x.h5").string()),
                  dir / "count.log");
  CHECK(r.code() != 0);
  CHECK(r.output.find("--count must be >= 1") != std::string::npos);

  r = run_command(fmt::format("{} -n 2 --oversubscribe {} scan {} --batch 4",
                              skyssl::test::mpiexec(), prep(), missing),
                  dir / "scan.log");
  CHECK(r.code() != 0);
  CHECK(r.output.find("does not exist") != std::string::npos);
}

#include <fitsio.h>
#include <hdf5.h>

namespace {

void write_fits(const std::string& path, const std::vector<long>& dims, float base) {
  fs::remove(path);
  fitsfile* f = nullptr;
  int status = 0;
  fits_create_file(&f, path.c_str(), &status);
  std::vector<long> d = dims;
  fits_create_img(f, FLOAT_IMG, static_cast<int>(d.size()), d.data(), &status);
  long n = 1;
  for (long v : dims) n *= v;
  std::vector<float> px(static_cast<std::size_t>(n));
  for (long i = 0; i < n; ++i) px[static_cast<std::size_t>(i)] = base + static_cast<float>(i);
  fits_write_img(f, TFLOAT, 1, n, px.data(), &status);
  fits_close_file(f, &status);
  REQUIRE(status == 0);
}

}  // namespace

TEST_CASE("skyssl-prep from-fits: cubes and per-band files with a catalogue CSV") {
  const auto dir = skyssl::test::tmp_dir("from_fits");
  // Cubes: FITS axes (x=6, y=5, band=3) -> archive (3, 5, 6).
  for (int i = 0; i < 4; ++i)
    write_fits((dir / fmt::format("obj{}.fits", i)).string(), {6, 5, 3}, 1000.0f * i);
  for (int i = 0; i < 4; ++i)
    for (const char* b : {"g", "r"})
      write_fits((dir / fmt::format("obj{}_{}.fits", i, b)).string(), {6, 5},
                 1000.0f * i + (b[0] == 'r' ? 500 : 0));
  std::ofstream(dir / "cat.csv")
      << "id,ra,dec,z_spec,ebv,nobs\nobj0,10.5,1.25,0.1,0.02,3\nobj1,10.6,1.5,0.2,0.03,4\n"
         "obj2,10.7,1.75,0.3,0.04,5\nobj3,10.8,2.0,0.4,0.05,6\n";
  auto r =
      run_command(fmt::format("{} from-fits --dir {} --catalog {} --out {}", prep(), dir.string(),
                              (dir / "cat.csv").string(), (dir / "cubes.h5").string()),
                  dir / "cubes.log");
  INFO(r.output);
  REQUIRE(r.code() == 0);
  {
    skyssl::data::archive_options o;
    o.paths = {(dir / "cubes.h5").string()};
    const skyssl::data::archive a(o);
    CHECK(a.size() == 4);
    CHECK(a.channels() == 3);
    CHECK(a.height() == 5);
    CHECK(a.width() == 6);
    std::vector<float> px(90);
    a.read_images(2, 1, px.data());
    CHECK(px[1 * 30 + 2 * 6 + 4] == 2000.0f + 30 + 12 + 4);
    std::vector<double> z(4);
    a.read_column("z_spec", 0, 4, z.data());
    CHECK(z[3] == doctest::Approx(0.4));
    CHECK(a.files()[0].datasets.size() == 6);  // images + ra dec z_spec ebv nobs
  }
  r = run_command(
      fmt::format("{} from-fits --dir {} --catalog {} --out {} --pattern '{{id}}_{{band}}.fits' "
                  "--bands g,r",
                  prep(), dir.string(), (dir / "cat.csv").string(), (dir / "bands.h5").string()),
      dir / "bands.log");
  INFO(r.output);
  REQUIRE(r.code() == 0);
  {
    skyssl::data::archive_options o;
    o.paths = {(dir / "bands.h5").string()};
    const skyssl::data::archive a(o);
    CHECK(a.channels() == 2);
    std::vector<float> px(60);
    a.read_images(3, 1, px.data());
    CHECK(px[30 + 7] == 3500.0f + 7);
  }
  std::ofstream(dir / "bad.csv") << "id,ra,z_spec\nobj0,10.5,0.1\nobj1,10.6,abc\n";
  r = run_command(fmt::format("{} from-fits --dir {} --catalog {} --out {}", prep(), dir.string(),
                              (dir / "bad.csv").string(), (dir / "bad.h5").string()),
                  dir / "bad.log");
  CHECK(r.code() != 0);
  CHECK(r.output.find("data row 2 (line 3): column 'z_spec' value 'abc' is not a number") !=
        std::string::npos);
  std::ofstream(dir / "short.csv") << "id,ra,z_spec\nobj0,10.5\n";
  r = run_command(fmt::format("{} from-fits --dir {} --catalog {} --out {}", prep(), dir.string(),
                              (dir / "short.csv").string(), (dir / "bad.h5").string()),
                  dir / "short.log");
  CHECK(r.code() != 0);
  CHECK(r.output.find("line 2: 2 values, but the header has 3 columns") != std::string::npos);
  std::ofstream(dir / "gone.csv") << "id,ra\nobj9,1\n";
  r = run_command(fmt::format("{} from-fits --dir {} --catalog {} --out {}", prep(), dir.string(),
                              (dir / "gone.csv").string(), (dir / "bad.h5").string()),
                  dir / "gone.log");
  CHECK(r.code() != 0);
  CHECK(r.output.find("obj9.fits' does not exist") != std::string::npos);
}

TEST_CASE("skyssl-prep from-fits: hostile catalogues exit 1 naming the row, ids stay exact") {
  const auto dir = skyssl::test::tmp_dir("from_fits_hostile");
  const auto cutouts = dir / "cutouts";
  fs::create_directories(cutouts);
  // SDSS-like objIDs above 2^53: a double would change the last digits.
  const std::vector<std::string> ids = {"1237648720693755918", "1237648720693755919"};
  for (std::size_t i = 0; i < ids.size(); ++i)
    write_fits((cutouts / (ids[i] + ".fits")).string(), {6, 5, 3}, 100.0f * i);
  std::ofstream(dir / "big.csv") << "id,ra\n" << ids[0] << ",1.5\n\"" << ids[1] << "\",2.5\n";
  auto from_fits = [&](const std::string& csv, const std::string& name) {
    return run_command(
        fmt::format("{} from-fits --dir {} --catalog {} --out {}", prep(), cutouts.string(),
                    (dir / csv).string(), (dir / (name + ".h5")).string()),
        dir / (name + ".log"));
  };
  auto r = from_fits("big.csv", "big");
  INFO(r.output);
  REQUIRE(r.code() == 0);
  {
    const hid_t f = H5Fopen((dir / "big.h5").c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    REQUIRE(f >= 0);
    const hid_t d = H5Dopen2(f, "objid", H5P_DEFAULT);
    REQUIRE(d >= 0);
    std::int64_t got[2] = {0, 0};
    REQUIRE(H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, got) >= 0);
    H5Dclose(d);
    H5Fclose(f);
    CHECK(got[0] == 1237648720693755918LL);
    CHECK(got[1] == 1237648720693755919LL);
  }
  std::ofstream(dir / "nan.csv") << "id,ra\n" << ids[0] << ",1\nnan,2\n";
  r = from_fits("nan.csv", "nan");
  CHECK(r.code() == 1);
  CHECK(r.output.find("data row 2 (line 3): column 'id' value 'nan' is not an integer") !=
        std::string::npos);
  // Cutout names that leave --dir: '..' and an absolute path, quoted or not.
  std::ofstream(dir / "outside.fits");
  std::ofstream(dir / "dotdot.csv") << "id,ra\n../outside,1\n";
  r = from_fits("dotdot.csv", "dotdot");
  CHECK(r.code() == 1);
  CHECK(r.output.find("data row 1 (line 2): the cutout name '../outside.fits' is empty, absolute "
                      "or leaves --dir") != std::string::npos);
  std::ofstream(dir / "absolute.csv") << "id,ra\n\"" << (dir / "outside").string() << "\",1\n";
  r = from_fits("absolute.csv", "absolute");
  CHECK(r.code() == 1);
  CHECK(r.output.find("leaves --dir") != std::string::npos);
  CHECK_FALSE(fs::exists(dir / "absolute.h5"));
  // A FITS header that asks for far more pixels than the file holds.
  {
    std::string h;
    for (const char* card :
         {"SIMPLE  =                    T", "BITPIX  =                  -32",
          "NAXIS   =                    3", "NAXIS1  =                60000",
          "NAXIS2  =                60000", "NAXIS3  =                    3", "END"})
      h += fmt::format("{:<80}", card);
    h.resize(2880, ' ');
    std::ofstream(cutouts / "7.fits", std::ios::binary) << h;
  }
  std::ofstream(dir / "huge.csv") << "id,ra\n7,1\n";
  r = from_fits("huge.csv", "huge");
  CHECK(r.code() == 1);
  CHECK(r.output.find("7.fits': its header declares 10800000000 pixels of 32 bits, more than "
                      "the file's 2880 bytes can hold") != std::string::npos);
}

TEST_CASE("skyssl-prep from-fits: symbolic links out of --dir exit 1 naming the row and path") {
  const auto dir = skyssl::test::tmp_dir("from_fits_symlink");
  fs::remove_all(dir);  // links from an earlier run would make create_symlink throw
  const auto cutouts = dir / "cutouts";
  fs::create_directories(cutouts / "inner");
  // Valid cubes both inside and outside --dir: only the confinement can refuse the outside one.
  write_fits((cutouts / "inner" / "1.fits").string(), {6, 5, 3}, 1.0f);
  write_fits((dir / "secret.fits").string(), {6, 5, 3}, 2.0f);
  fs::create_symlink(cutouts / "inner" / "1.fits", cutouts / "2.fits");  // stays inside: fine
  fs::create_symlink(dir / "secret.fits", cutouts / "3.fits");           // a file link out
  fs::create_symlink(dir, cutouts / "up");                               // a directory link out
  // A sibling whose name starts with --dir's: a string prefix test would let it through.
  fs::create_directories(dir / "cutouts2");
  write_fits((dir / "cutouts2" / "4.fits").string(), {6, 5, 3}, 3.0f);
  fs::create_symlink(dir / "cutouts2" / "4.fits", cutouts / "4.fits");
  auto from_fits = [&](const std::string& rows, const std::string& name) {
    std::ofstream(dir / (name + ".csv")) << "id,ra\n" << rows;
    return run_command(
        fmt::format("{} from-fits --dir {} --catalog {} --out {}", prep(), cutouts.string(),
                    (dir / (name + ".csv")).string(), (dir / (name + ".h5")).string()),
        dir / (name + ".log"));
  };
  auto r = from_fits("inner/1,1\n2,2\n", "inside");
  INFO(r.output);
  CHECK(r.code() == 0);
  r = from_fits("inner/1,1\n3,2\n", "file_link");
  INFO(r.output);
  CHECK(r.code() == 1);
  CHECK(r.output.find(fmt::format("data row 2 (line 3): the cutout '{}' resolves through a "
                                  "symbolic link to '{}', outside --dir",
                                  (cutouts / "3.fits").string(),
                                  fs::canonical(dir / "secret.fits").string())) !=
        std::string::npos);
  CHECK_FALSE(fs::exists(dir / "file_link.h5"));
  r = from_fits("up/secret,1\n", "dir_link");
  INFO(r.output);
  CHECK(r.code() == 1);
  CHECK(r.output.find("data row 1 (line 2): the cutout '" + (cutouts / "up/secret.fits").string() +
                      "' resolves through a symbolic link") != std::string::npos);
  r = from_fits("4,1\n", "sibling");
  INFO(r.output);
  CHECK(r.code() == 1);
  CHECK(r.output.find("outside --dir") != std::string::npos);
  CHECK_FALSE(fs::exists(dir / "sibling.h5"));
}

TEST_CASE("skyssl-prep inspect/gallery: zero-size images and absurd zooms exit 1, no signal") {
  const auto dir = skyssl::test::tmp_dir("prep_hostile");
  const auto zero = dir / "zero_h.h5";
  {
    const hid_t f = H5Fcreate(zero.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    const hsize_t dims[4] = {4, 3, 0, 8};
    const hid_t space = H5Screate_simple(4, dims, nullptr);
    H5Dclose(H5Dcreate2(f, "images", H5T_IEEE_F32LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    H5Sclose(space);
    H5Fclose(f);
  }
  auto r = run_command(fmt::format("{} inspect {}", prep(), zero.string()), dir / "zero.log");
  CHECK(r.code() == 1);  // was SIGFPE
  CHECK(r.output.find("'" + zero.string() + "': dataset 'images' has shape 4x3x0x8") !=
        std::string::npos);
  r = run_command(fmt::format("{} gallery --archive {} --zoom 100000 --out {}", prep(),
                              zero.string(), (dir / "g.png").string()),
                  dir / "zoom.log");
  CHECK(r.code() != 0);
  CHECK(r.code() < 128);
  CHECK(r.output.find("--zoom") != std::string::npos);
  CHECK_FALSE(fs::exists(dir / "g.png"));
}
