// Embedding files and HDF5 cutouts from others (issue #19): the dims a file declares are bounded
// by its size before anything is sized from them (the width is no longer truncated to int, 2^62
// rows of a sparse dataset are refused, read_all never allocates more than the file could
// hold), and a cutout's pixels must be stored in the cutout itself.
#include "tests/support/torch_doctest.hpp"

#include <hdf5.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>

#include "skyssl/core/error.hpp"
#include "skyssl/embed/cutout.hpp"
#include "skyssl/embed/embedding_reader.hpp"
#include "tests/support/unwritten_dataset.hpp"

namespace fs = std::filesystem;

namespace {

// An embedding file whose /backbone has `rows` x `dim` float32, never written: chunked, or
// contiguous and allocated at creation (the file then extends over a hole on disk).
fs::path sparse_embedding(const std::string& name, hsize_t rows, hsize_t dim,
                          bool contiguous = false) {
  const auto path = fs::temp_directory_path() / ("skyssl_embedding_bounds_" + name + ".h5");
  const hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  const hid_t s1 = H5Screate(H5S_SCALAR);
  const hid_t a = H5Acreate2(f, "skyssl_embedding", H5T_STD_I64LE, s1, H5P_DEFAULT, H5P_DEFAULT);
  const long long one = 1;
  H5Awrite(a, H5T_NATIVE_LLONG, &one);
  H5Aclose(a);
  H5Sclose(s1);
  const std::vector<hsize_t> chunk =
      contiguous ? std::vector<hsize_t>{} : std::vector<hsize_t>{1, 1};
  REQUIRE(skyssl::test::unwritten_dataset(f, "backbone", {rows, dim}, chunk, contiguous));
  H5Fclose(f);
  return path;
}

std::string error_of(const fs::path& p, bool read_all) {
  try {
    const skyssl::embed::embedding_reader r(p);
    if (read_all) r.read_all("backbone");
  } catch (const skyssl::data_error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("embedding reader: absurd dims are refused naming the file") {
  for (const auto& [rows, dim] : {std::pair<hsize_t, hsize_t>{1ULL << 62, 16},
                                  {4, 2147483648ULL},  // was truncated to a negative int
                                  {4, 1ULL << 21}}) {
    const auto p = sparse_embedding("dims", rows, dim);
    const auto msg = error_of(p, false);
    CAPTURE(msg);
    CHECK(msg.find("'" + p.string() + "': /backbone declares") != std::string::npos);
    CHECK(msg.find("absurd for a file of") != std::string::npos);
    fs::remove(p);
  }
}

TEST_CASE("embedding reader: read_all never allocates more than the file could hold") {
  const auto p = sparse_embedding("sparse", 60000, 1024);  // 245 MB declared, a few KB stored
  CHECK(error_of(p, false) == "");                         // opening is fine (a file being written)
  const auto msg = error_of(p, true);
  CHECK(msg.find("more than a file of") != std::string::npos);
  fs::remove(p);
  const auto ok = sparse_embedding("small", 10, 8);  // fill values, within bounds: read
  const skyssl::embed::embedding_reader r(ok);
  CHECK(r.read_all("backbone").sizes() == torch::IntArrayRef({10, 8}));
  fs::remove(ok);
}

// fuzz_embedding's finding (tests/fuzz/embedding/corpus/regression-sparse-contiguous): a file
// 200 KB on disk whose contiguous /backbone spans an 80 GB hole; bounded by the apparent size,
// read_all allocated 80 GB. Now bounded by the bytes stored on disk.
TEST_CASE("embedding reader: read_all does not allocate for a hole in a sparse file") {
  const auto p = sparse_embedding("hole", 60000, 1024, true);  // 245 MB extent, KBs on disk
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  const auto on_disk = static_cast<std::uintmax_t>(st.st_blocks) * 512;
  CAPTURE(on_disk);
  REQUIRE(fs::file_size(p) > 245000000);
  if (on_disk * 1100 >= fs::file_size(p)) {
    MESSAGE("the temporary directory's file system stores no holes: nothing to check");
  } else {
    CHECK(error_of(p, false) == "");  // opening is fine (skyssl-embed writes files like this)
    const auto msg = error_of(p, true);
    CHECK(msg.find("'" + p.string() +
                   "': /backbone declares 245760000 bytes of embeddings, "
                   "more than a file of") != std::string::npos);
    CHECK(msg.find("stored on disk) can hold") != std::string::npos);
  }
  fs::remove(p);
}

TEST_CASE("HDF5 cutouts: sizes checked against the file, links and foreign storage refused") {
  const auto dir = fs::temp_directory_path() / "skyssl_cutout_bounds";
  fs::create_directories(dir);
  auto cutout_error = [](const fs::path& p) {
    try {
      skyssl::embed::read_cutout(p);
    } catch (const skyssl::data_error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  const auto huge = dir / "huge.h5";
  {
    const hid_t f = H5Fcreate(huge.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    const hsize_t dims[4] = {1, 3, 1 << 20, 1 << 20}, chunk[4] = {1, 1, 1, 1};
    const hid_t space = H5Screate_simple(4, dims, nullptr);
    const hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 4, chunk);
    H5Dclose(H5Dcreate2(f, "images", H5T_IEEE_F32LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT));
    H5Pclose(dcpl);
    H5Sclose(space);
    H5Fclose(f);
  }
  auto msg = cutout_error(huge);
  CHECK(msg.find("'" + huge.string() + "': images declares 1x3x1048576x1048576 pixels") !=
        std::string::npos);
  const auto linked = dir / "linked.h5";
  {
    const hid_t f = H5Fcreate(linked.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    H5Lcreate_external(huge.c_str(), "images", f, "images", H5P_DEFAULT, H5P_DEFAULT);
    H5Fclose(f);
  }
  msg = cutout_error(linked);
  CHECK(msg.find("'images' is a link") != std::string::npos);
  // A hole is no pixels: 1 GiB of apparent size in a few kilobytes on disk was read whole
  // (sized by the apparent size) before the bound used what the file stores.
  const auto holed = dir / "holed.h5";
  {
    const hid_t f = H5Fcreate(holed.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    REQUIRE(skyssl::test::unwritten_dataset(f, "images", {1, 1, 16384, 16384}, {}, true));
    H5Fclose(f);
  }
  REQUIRE(fs::file_size(holed) > (1ULL << 30));
  msg = cutout_error(holed);
  CAPTURE(msg);
  CHECK(msg.find("'" + holed.string() + "': images declares 1x1x16384x16384 pixels") !=
        std::string::npos);
  fs::remove_all(dir);
}
