// skyssl-serve on a run as the README example leaves it (skyssl-train, then skyssl-embed into
// run/embeddings.h5): an uploaded cutout (FITS or HDF5) is embedded with the run's encoder and
// finds its galaxy, as skyssl-search --cutout does; POST /api/embed returns the vectors
// skyssl-embed wrote; corrupt, oversized and mistyped uploads get a 4xx naming no server path.
#include <doctest/doctest.h>
#include <fitsio.h>
#include <fmt/format.h>
#include <hdf5.h>
#include <httplib.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tests/integration/serve/serve_process.hpp"
#include "tests/support/run_command.hpp"
#include "tests/support/test_paths.hpp"

namespace fs = std::filesystem;
using namespace skyssl;
using json = nlohmann::json;

namespace {

constexpr int count = 64, size = 32, bands = 3;

const fs::path& dir() {
  static const fs::path d = test::tmp_dir("serve_upload");
  return d;
}

// A 3-band survey, a ResNet trained 2 steps on it, and its embeddings.h5.
const fs::path& run_dir() {
  static const fs::path r = [] {
    const auto survey = dir() / "survey.h5";
    auto s = test::run_command(fmt::format("{} synth --out {} --count {} --size {} --seed 3",
                                           skyssl::test::program("skyssl-prep"), survey.string(),
                                           count, size));
    REQUIRE_MESSAGE(s.status == 0, s.output);
    const auto r = dir() / "run";
    fs::remove_all(r);
    auto t = test::run_command(fmt::format(
        "{} --preset example --run-dir {} --set data.path={} --set augment.input_size=32 "
        "--set augment.crop=24 --set augment.jitter_max=2 --set model.width=16 "
        "--set moco.K=64 --set moco.bn_group=16 --set train.global_batch=16 "
        "--set train.max_steps=2 --set train_eval.enabled=false",
        skyssl::test::program("skyssl-train"), r.string(), survey.string()));
    REQUIRE_MESSAGE(t.status == 0, t.output);
    auto e = test::run_command(
        fmt::format("{} --run-dir {}", skyssl::test::program("skyssl-embed"), r.string()));
    REQUIRE_MESSAGE(e.status == 0, e.output);
    return r;
  }();
  return r;
}

// Rows of a float dataset (first, n) as float, read with the plain HDF5 API.
std::vector<float> read_rows(const fs::path& file, const char* name, hsize_t first, hsize_t n) {
  const hid_t f = H5Fopen(file.string().c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  REQUIRE(f >= 0);
  const hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
  const hid_t sp = H5Dget_space(d);
  hsize_t dims[4] = {};
  const int nd = H5Sget_simple_extent_dims(sp, dims, nullptr);
  hsize_t start[4] = {first, 0, 0, 0}, cnt[4] = {n, dims[1], dims[2], dims[3]};
  H5Sselect_hyperslab(sp, H5S_SELECT_SET, start, nullptr, cnt, nullptr);
  hsize_t total = 1;
  for (int i = 0; i < nd; ++i) total *= cnt[i];
  const hid_t mem = H5Screate_simple(nd, cnt, nullptr);
  std::vector<float> out(total);
  REQUIRE(H5Dread(d, H5T_NATIVE_FLOAT, mem, sp, H5P_DEFAULT, out.data()) >= 0);
  H5Sclose(mem);
  H5Sclose(sp);
  H5Dclose(d);
  H5Fclose(f);
  return out;
}

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

std::string fits_of(const std::vector<float>& chw, long c, long h, long w) {
  const auto p = dir() / "cut.fits";
  fs::remove(p);
  fitsfile* f = nullptr;
  int status = 0;
  long dims[3] = {w, h, c};
  fits_create_file(&f, p.string().c_str(), &status);
  fits_create_img(f, FLOAT_IMG, c == 1 ? 2 : 3, dims, &status);
  fits_write_img(f, TFLOAT, 1, c * h * w, const_cast<float*>(chw.data()), &status);
  fits_close_file(f, &status);
  REQUIRE(status == 0);
  return slurp(p);
}

// An HDF5 file with `images` of the given shape; data written only when given (otherwise a
// dataset of that size with no storage: a tiny file claiming a huge image).
std::string h5_of(const std::vector<hsize_t>& dims, const std::vector<float>& data) {
  const auto p = dir() / "cut.h5";
  const hid_t f = H5Fcreate(p.string().c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  const hid_t sp = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
  const hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_LATE);
  H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER);
  const hid_t d = H5Dcreate2(f, "images", H5T_IEEE_F32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  if (!data.empty()) H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data());
  H5Dclose(d);
  H5Pclose(dcpl);
  H5Sclose(sp);
  H5Fclose(f);
  return slurp(p);
}

// A FITS primary header only (2880 bytes of 80-character cards), claiming any size.
std::string fits_header(const std::vector<std::string>& cards) {
  std::string h;
  for (auto c : cards) h += c.append(80 - c.size(), ' ');
  h += std::string("END").append(77, ' ');
  h.append(2880 - h.size() % 2880, ' ');
  return h;
}

double cosine(const float* a, const float* b, int d) {
  double ab = 0, aa = 0, bb = 0;
  for (int i = 0; i < d; ++i) {
    ab += double{a[i]} * b[i];
    aa += double{a[i]} * a[i];
    bb += double{b[i]} * b[i];
  }
  return ab / std::sqrt(aa * bb);
}

}  // namespace

TEST_CASE("uploaded cutouts are embedded with the run's encoder and find their galaxy") {
  const auto survey = dir() / "survey.h5";
  test::serve_process p(fmt::format("{} --run-dir {} --listen 127.0.0.1:0",
                                    skyssl::test::program("skyssl-serve"), run_dir().string()),
                        dir() / "serve.log");
  REQUIRE_MESSAGE(p.wait_ready(), p.output());
  httplib::Client c("127.0.0.1", p.port());
  c.set_read_timeout(120, 0);
  auto info = c.Get("/api/info");
  REQUIRE(info);
  const auto ij = json::parse(info->body);
  CHECK(ij["uploads"] == true);
  CHECK(ij["tiles"] == true);  // the embedding file's source archive
  CHECK(ij["rows"] == count);
  const int d = ij["dim"];

  const auto row7 = read_rows(survey, "images", 7, 1);
  const auto fits = fits_of(row7, bands, size, size);
  const auto t0 = std::chrono::steady_clock::now();
  auto r = c.Post("/api/neighbours?k=3&exclude_within_arcsec=0", fits, "application/fits");
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  REQUIRE(r);
  REQUIRE_MESSAGE(r->status == 200, r->body);
  MESSAGE("FITS upload answered in " << seconds << " s");
  const auto j = json::parse(r->body);
  CHECK(j["query"]["label"] == "upload");
  CHECK(j["query"]["row"] == -1);
  CHECK(j["neighbours"][0]["row"] == 7);
  CHECK(j["neighbours"][0]["cosine"].get<double>() > 0.9999);
  CHECK(j["neighbours"][0].contains("objid"));

  // skyssl-search --cutout on the same file: the same neighbours.
  const auto out = dir() / "search.json";
  auto s = test::run_command(
      fmt::format("{} --embeddings {} --cutout {} --run-dir {} --k 3 --json {}",
                  skyssl::test::program("skyssl-search"), (run_dir() / "embeddings.h5").string(),
                  (dir() / "cut.fits").string(), run_dir().string(), out.string()));
  REQUIRE_MESSAGE(s.status == 0, s.output);
  const auto sj = json::parse(slurp(out));
  for (int i = 0; i < 3; ++i)
    CHECK(j["neighbours"][i]["row"] == sj["queries"][0]["neighbours"][i]["row"]);

  // POST /api/embed: two galaxies in one HDF5 file, the vectors skyssl-embed wrote.
  auto two = read_rows(survey, "images", 7, 1);
  const auto row40 = read_rows(survey, "images", 40, 1);
  two.insert(two.end(), row40.begin(), row40.end());
  auto e = c.Post("/api/embed", h5_of({2, bands, size, size}, two), "application/x-hdf5");
  REQUIRE(e);
  REQUIRE_MESSAGE(e->status == 200, e->body);
  const auto ej = json::parse(e->body);
  CHECK(ej["space"] == "backbone");
  REQUIRE(ej["vectors"].size() == 2);
  const auto written = read_rows(run_dir() / "embeddings.h5", "backbone", 7, 1);
  const auto written40 = read_rows(run_dir() / "embeddings.h5", "backbone", 40, 1);
  const auto v7 = ej["vectors"][0].get<std::vector<float>>();
  const auto v40 = ej["vectors"][1].get<std::vector<float>>();
  REQUIRE(static_cast<int>(v7.size()) == d);
  CHECK(cosine(v7.data(), written.data(), d) > 0.9999);
  CHECK(cosine(v40.data(), written40.data(), d) > 0.9999);

  // Bad uploads: 4xx, one JSON line, no server path in the message; the server stays up.
  const std::vector<std::tuple<std::string, std::string, std::string, int, std::string>> bad = {
      {"/api/neighbours", fits, "text/plain", 415, "Content-Type 'text/plain'"},
      {"/api/embed", fits, "application/json", 415, "Content-Type 'application/json'"},
      {"/api/embed", fits, "application/x-hdf5", 415, "but the upload is FITS"},
      {"/api/embed", "", "application/octet-stream", 400, "the upload is empty"},
      {"/api/embed", "hello, world", "application/octet-stream", 400, "neither a FITS"},
      {"/api/embed", fits.substr(0, 100), "application/fits", 400, "the upload"},
      {"/api/embed",
       fits_header({"SIMPLE  =                    T", "BITPIX  =                  -32",
                    "NAXIS   =                    3", "NAXIS1  =               100000",
                    "NAXIS2  =               100000", "NAXIS3  =                    3"}),
       "application/fits", 400, "over the limit"},
      {"/api/embed", h5_of({100000, 3, 1000, 1000}, {}), "application/octet-stream", 400,
       "over the limit"},
      {"/api/neighbours", h5_of({2, bands, size, size}, two), "application/x-hdf5", 400,
       "holds 2 images"},
      {"/api/neighbours",
       fits_of(std::vector<float>(row7.begin(), row7.begin() + size * size), 1, size, size),
       "application/fits", 400, "band"},
      {"/api/neighbours?row=3", fits, "application/fits", 400, "row: a POST searches for its"},
  };
  for (const auto& [path, body, type, status, message] : bad) {
    INFO(path << " " << type << " " << message);
    auto b = c.Post(path.c_str(), body, type.c_str());
    REQUIRE(b);
    INFO(b->body);
    CHECK(b->status == status);
    CHECK(b->body.find('\n') == b->body.size() - 1);
    const auto err = json::parse(b->body)["error"].get<std::string>();
    CHECK(err.find(message) != std::string::npos);
    CHECK(err.find("skyssl-serve-") == std::string::npos);
  }
  auto still = c.Get("/api/neighbours?row=1&k=2");
  REQUIRE(still);
  CHECK(still->status == 200);
  CHECK(WEXITSTATUS(p.stop()) == 0);
}
