// skyssl-prep inspect at survey scale: a sparse archive of 4 million rows (a chunked dataset
// whose chunks are mostly never written costs no disk, as in a file being filled) answers
// with its metadata and sampled statistics, reading only the sampled rows (the output says how
// many), on 1 and 2 ranks; --all reads every row with a progress line and finds the NaN.
#include <fmt/format.h>
#include <hdf5.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

#include "tests/support/run_command.hpp"
#include "tests/support/test_paths.hpp"
#include "tests/support/unwritten_dataset.hpp"

#include <doctest/doctest.h>

namespace fs = std::filesystem;

namespace {

using result = skyssl::test::command_result;

result run(const std::string& cmd, const fs::path& log) {
  MESSAGE(cmd);
  return skyssl::test::run_command(cmd, log);
}

std::string prep() { return (skyssl::test::binary_dir() / "apps/prep/skyssl-prep").string(); }

// `rows` x 3x64x64 float32 in chunks of one row plus a chunked 1-D `ebv`; only the first
// `written` rows are written (pixel value: row + 0.25), and row `nan_row` gets a NaN.
void sparse_archive(const fs::path& path, hsize_t rows, hsize_t written, hsize_t nan_row) {
  const hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  REQUIRE(f >= 0);
  const hsize_t dims[4] = {rows, 3, 64, 64}, chunk[4] = {1, 3, 64, 64};
  const hid_t space = H5Screate_simple(4, dims, nullptr);
  const hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(dcpl, 4, chunk);
  const hid_t d = H5Dcreate2(f, "images", H5T_IEEE_F32LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  REQUIRE(d >= 0);
  std::vector<float> px(written * 3 * 64 * 64);
  for (hsize_t r = 0; r < written; ++r)
    for (hsize_t i = 0; i < 3 * 64 * 64; ++i)
      px[r * 3 * 64 * 64 + i] = static_cast<float>(r) + 0.25f;
  if (nan_row < written) px[nan_row * 3 * 64 * 64 + 4096 + 65] = std::nanf("");
  const hsize_t start[4] = {0, 0, 0, 0}, count[4] = {written, 3, 64, 64};
  H5Sselect_hyperslab(space, H5S_SELECT_SET, start, nullptr, count, nullptr);
  const hid_t ms = H5Screate_simple(4, count, nullptr);
  REQUIRE(H5Dwrite(d, H5T_NATIVE_FLOAT, ms, space, H5P_DEFAULT, px.data()) >= 0);
  H5Sclose(ms);
  REQUIRE(skyssl::test::unwritten_dataset(f, "ebv", {rows}, {std::min<hsize_t>(65536, rows)}));
  H5Dclose(d);
  H5Pclose(dcpl);
  H5Sclose(space);
  H5Fclose(f);
}

bool has(const result& r, const std::string& s) { return r.output.find(s) != std::string::npos; }

}  // namespace

TEST_CASE("inspect: 4 million rows, metadata and sampled statistics from the sampled rows only") {
  const auto dir = skyssl::test::tmp_dir("inspect_scale");
  const auto big = dir / "sparse.h5";
  sparse_archive(big, 4'000'000, 16, 99);
  CHECK(fs::file_size(big) < 64u << 20);  // 196 GB logical
  for (int np : {1, 2}) {
    INFO("ranks ", np);
    const auto r =
        run(fmt::format("{} -n {} --oversubscribe {} inspect {} --set data.pixel_scale=0.3",
                        skyssl::test::mpiexec(), np, prep(), big.string()),
            dir / fmt::format("np{}.log", np));
    INFO(r.output);
    REQUIRE(r.code() == 0);
    CHECK(has(r, "images (4000000, 3, 64, 64) float32, chunks 1x3x64x64"));
    CHECK(has(r, "4000000 rows, images float32, read direct (chunks of 1 rows)"));
    CHECK(has(r, "dataset ebv              float32  shape 4000000 chunks 65536"));
    CHECK(has(r, fmt::format("4096 of 4000000 rows on {} rank(s)", np)));
    CHECK(has(r, "rows read: 4096 of 4000000"));
    // The sample is spread over the archive: almost all of it falls on unwritten rows (0).
    CHECK(has(r, "percentiles p1 0  p5 0  p50 0  p95 0  p99 0"));
  }
}

TEST_CASE("inspect --all reads every row with progress; --sample bounds the rows read") {
  const auto dir = skyssl::test::tmp_dir("inspect_all");
  const auto small = dir / "small.h5";
  sparse_archive(small, 40, 40, 7);
  auto r = run(fmt::format("{} -n 2 --oversubscribe {} inspect {} --all", skyssl::test::mpiexec(),
                           prep(), small.string()),
               dir / "all.log");
  INFO(r.output);
  REQUIRE(r.code() == 0);
  CHECK(has(r, "statistics over every row: 40 of 40 rows on 2 rank(s)"));
  CHECK(has(r, "inspect: rank 0 read 20/20 rows (100%)"));
  CHECK(has(r, "ETA"));
  CHECK(has(r, "rows read: 40 of 40"));
  CHECK(has(r, "NaN/Inf pixels: 1 in 1 sample(s) (first: global id 7)\n"));
  // Band r holds the NaN; its finite values are rows + 0.25: min 0.25, max 39.25.
  CHECK(has(r, "pixels r   min 0.25         max 39.25"));
  r = run(fmt::format("{} inspect {} --sample 10 --strict", prep(), small.string()),
          dir / "sample.log");
  CHECK(has(r, "rows read: 10 of 40"));
  // Sampled rows: one from each stratum of 4, so row 7 may or may not be among them; either
  // way the line says the count is over the rows read.
  CHECK(has(r, "sample(s)"));
  r = run(fmt::format("{} inspect {} --all --strict", prep(), small.string()), dir / "strict.log");
  CHECK(r.code() != 0);
  CHECK(has(r, "has 1 NaN/Inf pixels in 1 samples (first: global id 7)"));
}
