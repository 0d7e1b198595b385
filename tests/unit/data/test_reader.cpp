// The shard reader on one rank: exact pixels across file boundaries, mid-epoch starts, epoch
// rollover, catalogue fields, and errors raised on the prefetch thread reaching next().
#include <hdf5.h>

#include <chrono>
#include <cmath>
#include <memory>

#include "fixture.hpp"
#include "skyssl/core/error.hpp"
#include "skyssl/data/epoch_plan.hpp"
#include "skyssl/data/shard_reader.hpp"
#include "tests/support/test_paths.hpp"

// Last: torch pulls in glog, whose CHECK must not shadow doctest's.
#include <doctest/doctest.h>

using skyssl::data::epoch_plan;
using skyssl::data::shard_reader;

namespace {

skyssl::data::archive_options multi_file_archive() {
  const auto dir = skyssl::test::tmp_dir("reader_multi");
  skyssl::test::write_test_archive((dir / "s0.h5").string(), 0, 13);
  skyssl::test::write_test_archive((dir / "s1.h5").string(), 13, 7);
  skyssl::test::write_test_archive((dir / "s2.h5").string(), 20, 17);
  skyssl::data::archive_options o;
  o.paths = {(dir / "s*.h5").string()};
  return o;
}

void check_batch(const skyssl::data::sample_batch& b, const std::vector<std::int64_t>& ids) {
  REQUIRE(b.ids.size(0) == static_cast<std::int64_t>(ids.size()));
  const auto img = b.images.accessor<float, 4>();
  const auto psf = b.psf_fwhm.accessor<float, 2>();
  for (std::size_t k = 0; k < ids.size(); ++k) {
    REQUIRE(b.ids[static_cast<std::int64_t>(k)].item<std::int64_t>() == ids[k]);
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 4; ++y)
        for (int x = 0; x < 5; ++x)
          REQUIRE(img[static_cast<std::int64_t>(k)][c][y][x] ==
                  skyssl::test::pixel_value(ids[k], c, y, x));
    CHECK(b.ebv[static_cast<std::int64_t>(k)].item<float>() == doctest::Approx(0.001 * ids[k]));
    CHECK(psf[static_cast<std::int64_t>(k)][2] == doctest::Approx(2.0 + 0.0001 * ids[k]));
  }
}

}  // namespace

TEST_CASE("shard_reader: exact pixels across files, two epochs, rollover") {
  const auto o = multi_file_archive();  // 37 samples in files of 13, 7, 17
  skyssl::data::reader_options r;
  r.prefetch = 3;
  shard_reader reader(o, r, 11, 8, 0, 1);
  REQUIRE(reader.steps_per_epoch() == 4);  // 37 / 8, short batch dropped
  reader.start(0, 0);
  for (std::int64_t epoch = 0; epoch < 2; ++epoch) {
    const epoch_plan plan(11, epoch, 37, 8);
    for (std::int64_t s = 0; s < 4; ++s) {
      const auto b = reader.next();
      CHECK(b.epoch == epoch);
      CHECK(b.step == s);
      CHECK(b.images.sizes() == torch::IntArrayRef({8, 3, 4, 5}));
      check_batch(b, plan.global_ids(s));
    }
  }
}

TEST_CASE("shard_reader: starts mid-epoch and restarts") {
  const auto o = multi_file_archive();
  shard_reader reader(o, {}, 5, 4, 1, 2);  // rank 1 of 2: local batch 2
  CHECK(reader.local_batch() == 2);
  reader.start(3, 6);
  const epoch_plan p3(5, 3, 37, 4), p4(5, 4, 37, 4);
  check_batch(reader.next(), p3.rank_ids(6, 1, 2));
  check_batch(reader.next(), p3.rank_ids(7, 1, 2));
  for (std::int64_t s = 8; s < 9; ++s) check_batch(reader.next(), p3.rank_ids(s, 1, 2));
  check_batch(reader.next(), p4.rank_ids(0, 1, 2));  // rolled over to epoch 4
  reader.start(3, 6);                                // restart drops what was prefetched
  check_batch(reader.next(), p3.rank_ids(6, 1, 2));
}

TEST_CASE("shard_reader: configuration errors") {
  const auto o = multi_file_archive();
  CHECK_THROWS_WITH_AS(shard_reader(o, {}, 1, 6, 0, 4),
                       doctest::Contains("not divisible by the number of ranks 4"),
                       skyssl::data_error);
  CHECK_THROWS_WITH_AS(shard_reader(o, {}, 1, 64, 0, 1),
                       doctest::Contains("fewer than one global batch of 64"), skyssl::data_error);
  shard_reader reader(o, {}, 1, 8, 0, 1);
  CHECK_THROWS_AS(reader.start(0, 4), skyssl::data_error);
}

TEST_CASE("shard_reader: NaN pixels are a data_error naming file, dataset and sample, via next()") {
  const auto dir = skyssl::test::tmp_dir("reader_nan");
  const auto p = (dir / "nan.h5").string();
  skyssl::test::write_test_archive(p, 0, 16);
  {
    // Poison sample 9, band r, pixel (2, 3).
    const hid_t f = H5Fopen(p.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    const hid_t d = H5Dopen2(f, "images", H5P_DEFAULT);
    const hid_t s = H5Dget_space(d);
    const hsize_t start[4] = {9, 1, 2, 3}, count[4] = {1, 1, 1, 1};
    H5Sselect_hyperslab(s, H5S_SELECT_SET, start, nullptr, count, nullptr);
    const hid_t m = H5Screate_simple(4, count, nullptr);
    const float nan = std::nanf("");
    H5Dwrite(d, H5T_NATIVE_FLOAT, m, s, H5P_DEFAULT, &nan);
    H5Sclose(m);
    H5Sclose(s);
    H5Dclose(d);
    H5Fclose(f);
  }
  skyssl::data::archive_options o;
  o.paths = {p};
  shard_reader reader(o, {}, 3, 16, 0, 1);  // one batch holds every sample
  const std::string expect =
      "archive file '" + p +
      "', dataset 'images': sample 9 (global id 9) has a NaN pixel (band r, y 2, x 3)";
  CHECK_THROWS_WITH_AS(reader.next(), doctest::Contains((expect).c_str()), skyssl::data_error);
  CHECK_THROWS_AS(reader.next(), skyssl::data_error);  // stays failed

  skyssl::data::reader_options zero;
  zero.nonfinite = skyssl::data::nonfinite_policy::zero;
  shard_reader lax(o, zero, 3, 16, 0, 1);
  const auto b = lax.next();
  CHECK(torch::isnan(b.images).sum().item<std::int64_t>() == 0);
  CHECK(b.nonfinite_pixels == 1);
}

TEST_CASE("shard_reader: destroyed while its thread is blocked or busy") {
  // The destructor must stop and join the prefetch thread promptly whether the thread is
  // blocked on a full queue or mid-read; a deadlock would hang here, a lost wake-up would cost
  // the join's time. Batches served before destruction are still the planned ones.
  const auto o = multi_file_archive();
  for (int i = 0; i < 5; ++i) {
    INFO("prefetch ", 1 + i);
    skyssl::data::reader_options r;
    r.prefetch = 1 + i;
    const auto seed = static_cast<std::uint64_t>(i);
    auto reader = std::make_unique<shard_reader>(o, r, seed, 4, 0, 1);
    reader->start(0, 0);
    if (i % 2) {
      check_batch(reader->next(), epoch_plan(seed, 0, 37, 4).rank_ids(0, 0, 1));
    }
    const auto t0 = std::chrono::steady_clock::now();
    reader.reset();
    CHECK(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < 2.0);
  }
}
