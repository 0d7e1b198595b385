// The read threads and the in-memory fields of a batch: skyssl::thread_pool's loop (every index
// once, in contiguous shares, on the same threads loop after loop, errors rethrown), and
// read_rows returning exactly the pixels and fields the fixture's formula gives at 1, 2 and 4
// pooled read threads, with threads started per call, and through HDF5 selections, for batches
// that cross file boundaries (neighbouring rows in neighbouring slots, which one pread would
// read, split at the boundary); field_cache against archive::read_column.
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

#include "fixture.hpp"
#include "skyssl/core/error.hpp"
#include "skyssl/core/thread_pool.hpp"
#include "skyssl/data/archive.hpp"
#include "skyssl/data/field_cache.hpp"
#include "skyssl/data/read_rows.hpp"
#include "tests/support/test_paths.hpp"

// Last: torch pulls in glog, whose CHECK must not shadow doctest's.
#include <doctest/doctest.h>

using skyssl::thread_pool;
using skyssl::data::archive;
using skyssl::data::archive_options;

TEST_CASE("thread_pool: every index once, contiguous shares, the same threads, errors rethrown") {
  for (int T : {1, 2, 4}) {
    thread_pool pool(T);
    REQUIRE(pool.size() == T);
    std::set<std::thread::id> first_threads;
    for (std::size_t n : {std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{5},
                          std::size_t{64}, std::size_t{1000}}) {
      for (int rep = 0; rep < 20; ++rep) {
        std::vector<std::atomic<int>> hits(n);
        std::mutex mu;
        std::vector<std::pair<std::size_t, std::size_t>> shares;
        std::set<std::thread::id> threads;
        pool.parallel_for(n, [&](std::size_t lo, std::size_t hi, int) {
          for (std::size_t i = lo; i < hi; ++i) hits[i]++;
          std::lock_guard<std::mutex> lock(mu);
          shares.emplace_back(lo, hi);
          threads.insert(std::this_thread::get_id());
        });
        for (std::size_t i = 0; i < n; ++i) REQUIRE(hits[i].load() == 1);
        const auto expect = std::min<std::size_t>(n, static_cast<std::size_t>(T));
        REQUIRE(shares.size() == expect);
        REQUIRE(threads.size() == expect);  // one thread per share
        std::sort(shares.begin(), shares.end());
        std::size_t at = 0;
        for (const auto& [lo, hi] : shares) {
          REQUIRE(lo == at);
          REQUIRE(hi > lo);
          at = hi;
        }
        REQUIRE(at == n);
        if (n >= static_cast<std::size_t>(T)) {
          // The workers are started once: every full loop runs on the same threads.
          if (first_threads.empty()) first_threads = threads;
          REQUIRE(threads == first_threads);
        }
      }
    }
    // Share 0 runs on the caller.
    std::thread::id zero;
    pool.parallel_for(4, [&](std::size_t, std::size_t, int share) {
      if (share == 0) zero = std::this_thread::get_id();
    });
    CHECK(zero == std::this_thread::get_id());
    // Errors: every share still runs; the lowest failing share's exception is rethrown.
    std::atomic<int> ran{0};
    auto fail = [&](std::size_t, std::size_t, int share) {
      ++ran;
      if (share >= T / 2) throw std::runtime_error(fmt::format("share {} failed", share));
    };
    CHECK_THROWS_WITH(pool.parallel_for(100, fail), fmt::format("share {} failed", T / 2).c_str());
    CHECK(ran.load() == T);
    std::atomic<std::size_t> sum{0};
    pool.parallel_for(10, [&](std::size_t lo, std::size_t hi, int) {  // still usable
      for (std::size_t i = lo; i < hi; ++i) sum += i;
    });
    CHECK(sum.load() == 45);
  }
}

namespace {

// Three files of 13, 7 and 17 rows (skyssl's writer: contiguous float32, fields ebv,
// psfsize_<band>, objid).
archive_options three_files() {
  const auto dir = skyssl::test::tmp_dir("read_threads");
  skyssl::test::write_test_archive((dir / "p0.h5").string(), 0, 13);
  skyssl::test::write_test_archive((dir / "p1.h5").string(), 13, 7);
  skyssl::test::write_test_archive((dir / "p2.h5").string(), 20, 17);
  archive_options o;
  o.paths = {(dir / "p0.h5").string(), (dir / "p1.h5").string(), (dir / "p2.h5").string()};
  return o;
}

// What the fixture wrote for a batch, computed from the formula alone.
void check_batch_against_formula(const skyssl::data::sample_batch& b,
                                 const std::vector<std::int64_t>& ids) {
  const auto B = static_cast<std::int64_t>(ids.size());
  REQUIRE(b.images.sizes() == torch::IntArrayRef({B, 3, 4, 5}));
  const auto img = b.images.accessor<float, 4>();
  const auto ebv = b.ebv.accessor<float, 1>();
  const auto psf = b.psf_fwhm.accessor<float, 2>();
  for (std::int64_t k = 0; k < B; ++k) {
    const std::int64_t id = ids[static_cast<std::size_t>(k)];
    INFO("slot ", k, ", global id ", id);
    REQUIRE(b.ids[k].item<std::int64_t>() == id);
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 4; ++y)
        for (int x = 0; x < 5; ++x)
          REQUIRE(img[k][c][y][x] == skyssl::test::pixel_value(id, c, y, x));
    REQUIRE(ebv[k] == 0.001f * static_cast<float>(id));
    for (int c = 0; c < 3; ++c)
      REQUIRE(psf[k][c] == 1.0f + 0.5f * static_cast<float>(c) + 0.0001f * static_cast<float>(id));
  }
}

}  // namespace

TEST_CASE("read_rows: the same pixels and fields at 1, 2 and 4 read threads, across files") {
  const auto o = three_files();
  auto hdf5_opts = o;
  hdf5_opts.direct_reads = false;
  const archive direct(o), hdf5(hdf5_opts);
  REQUIRE(direct.files().size() == 3);
  REQUIRE(direct.files()[1].images_read == "direct (contiguous)");
  REQUIRE(hdf5.files()[1].images_read.rfind("HDF5 selections", 0) == 0);
  const std::vector<std::vector<std::int64_t>> batches = {
      // neighbouring rows in neighbouring slots across both boundaries (13, 20)
      {10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22},
      // random order, runs split by the sort, first and last rows of every file
      {36, 0, 13, 12, 20, 19, 5, 6, 30, 29, 31, 7, 14, 25, 1},
      // a whole file's rows, reversed
      {19, 18, 17, 16, 15, 14, 13},
      {8}};
  for (const auto& ids : batches) {
    INFO("batch starting ", ids.front(), " of ", ids.size());
    for (int T : {1, 2, 4}) {
      INFO(T, " pooled read threads");
      thread_pool pool(T);
      const skyssl::data::field_cache fields(direct, skyssl::data::batch_field_names(direct));
      for (int rep = 0; rep < 2; ++rep)  // the second time, fields come from memory
        check_batch_against_formula(
            skyssl::data::read_rows(direct, ids, 0, 0, {{}, 1, &pool, &fields}), ids);
      // Into a recycled buffer holding garbage.
      auto buf = torch::full({static_cast<std::int64_t>(ids.size()), 3, 4, 5}, -7.0f);
      check_batch_against_formula(
          skyssl::data::read_rows(direct, ids, 0, 0, {{}, 1, &pool, &fields}, buf), ids);
      check_batch_against_formula(skyssl::data::read_rows(hdf5, ids, 0, 0, {{}, 1, &pool, nullptr}),
                                  ids);
    }
    // No pool, no cache: threads for this call only, fields read from the files.
    check_batch_against_formula(skyssl::data::read_rows(direct, ids, 0, 0, {{}, 3}), ids);
  }
}

TEST_CASE("field_cache serves what archive::read_column reads, for every file") {
  const auto o = three_files();
  const archive a(o);
  const std::vector<std::string> names = {"ebv", "", "psfsize_z", "objid"};
  const skyssl::data::field_cache cache(a, names);
  CHECK(cache.fields() == 4);
  CHECK(!cache.has(1));
  std::vector<std::int64_t> all(static_cast<std::size_t>(a.size()));
  for (std::int64_t i = 0; i < a.size(); ++i) all[static_cast<std::size_t>(i)] = i;
  for (std::size_t f : {std::size_t{0}, std::size_t{2}, std::size_t{3}}) {
    std::vector<double> ref(all.size());
    a.read_column(names[f], 0, a.size(), ref.data());
    std::vector<float> got(all.size() * 2, -1.0f);
    cache.read(f, all.data(), all.size(), got.data(), 2);  // strided
    for (std::size_t i = 0; i < all.size(); ++i) {
      REQUIRE(got[2 * i] == static_cast<float>(ref[i]));
      REQUIRE(got[2 * i + 1] == -1.0f);
    }
  }
  std::vector<float> one(1);
  const std::int64_t last = 36, beyond = 37;
  cache.read(3, &last, 1, one.data());
  CHECK(one[0] == 36.0f);  // objid = global id
  CHECK_THROWS_AS(cache.read(3, &beyond, 1, one.data()), skyssl::archive_error);
  CHECK_THROWS_AS(cache.read(1, &last, 1, one.data()), skyssl::data_error);
}
