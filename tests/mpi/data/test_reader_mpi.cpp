// The shard reader at 1, 2 and 4 ranks: each rank gets its slice of every global batch, the
// slices are disjoint, their union (in rank order) is the plan's global batch whatever the
// number of ranks, and the pixels are exact across file boundaries, also from mid-epoch; with
// data.nonfinite = "skip" every rank leaves out the same samples.

#include <hdf5.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "../../unit/data/fixture.hpp"
#include "skyssl/dist/gather_ids.hpp"
#include "skyssl/data/epoch_plan.hpp"
#include "skyssl/data/shard_reader.hpp"
#include "skyssl/dist/communicator.hpp"
#include "tests/support/test_paths.hpp"
#include "tests/support/mpi_world.hpp"

// Last: torch pulls in glog, whose CHECK must not shadow doctest's.
#include <doctest/doctest.h>

TEST_CASE("shard_reader under MPI: disjoint rank slices whose union is the global batch") {
  auto comm = skyssl::test::mpi_world();
  const int rank = comm->rank(), world = comm->world();
  // Each rank writes its own copy (no shared-file race), 3 files of 21 + 10 + 33 samples.
  const auto dir =
      skyssl::test::tmp_dir("reader_mpi_w" + std::to_string(world) + "_r" + std::to_string(rank));
  skyssl::test::write_test_archive((dir / "a.h5").string(), 0, 21);
  skyssl::test::write_test_archive((dir / "b.h5").string(), 21, 10);
  skyssl::test::write_test_archive((dir / "c.h5").string(), 31, 33);
  skyssl::data::archive_options o;
  o.paths = {(dir / "a.h5").string(), (dir / "b.h5").string(), (dir / "c.h5").string()};
  const std::int64_t G = 8, n = 64;
  skyssl::data::shard_reader reader(o, {}, 2024, G, rank, world);
  REQUIRE(reader.steps_per_epoch() == 8);
  for (const auto& [epoch0, step0] :
       std::vector<std::pair<std::int64_t, std::int64_t>>{{0, 0}, {5, 3}}) {
    reader.start(epoch0, step0);
    std::int64_t epoch = epoch0, step = step0;
    for (int k = 0; k < 10; ++k) {
      const auto b = reader.next();
      REQUIRE(b.epoch == epoch);
      REQUIRE(b.step == step);
      const auto img = b.images.accessor<float, 4>();
      for (std::int64_t i = 0; i < G / world; ++i) {
        const auto id = b.ids[i].item<std::int64_t>();
        REQUIRE(img[i][2][3][4] == skyssl::test::pixel_value(id, 2, 3, 4));
        REQUIRE(img[i][0][0][1] == skyssl::test::pixel_value(id, 0, 0, 1));
      }
      const auto all = comm->all_gather(b.ids.contiguous());
      const skyssl::data::epoch_plan plan(2024, epoch, n, G);
      const auto expect = plan.global_ids(step);
      REQUIRE(all.size(0) == G);
      for (std::int64_t i = 0; i < G; ++i)
        REQUIRE(all[i].item<std::int64_t>() == expect[static_cast<std::size_t>(i)]);
      if (++step == 8) {
        step = 0;
        ++epoch;
      }
    }
  }
}

TEST_CASE("data.nonfinite = skip: every rank leaves out the same samples, the plan is rank-free") {
  auto comm = skyssl::test::mpi_world();
  const int rank = comm->rank(), world = comm->world();
  const auto dir =
      skyssl::test::tmp_dir("skip_mpi_w" + std::to_string(world) + "_r" + std::to_string(rank));
  skyssl::test::write_test_archive((dir / "a.h5").string(), 0, 21);
  skyssl::test::write_test_archive((dir / "b.h5").string(), 21, 27);
  // NaN in sample 5 (file a) and Inf in 22 and 40 (file b, rows 1 and 19).
  skyssl::test::poison_pixel((dir / "a.h5").string(), 5, 1, 2, 3, std::nanf(""));
  skyssl::test::poison_pixel((dir / "b.h5").string(), 1, 1, 2, 3,
                             std::numeric_limits<float>::infinity());
  skyssl::test::poison_pixel((dir / "b.h5").string(), 19, 1, 2, 3,
                             -std::numeric_limits<float>::infinity());
  skyssl::data::archive_options o;
  o.paths = {(dir / "a.h5").string(), (dir / "b.h5").string()};
  skyssl::data::reader_options r;
  r.nonfinite = skyssl::data::nonfinite_policy::skip;
  const std::vector<std::int64_t> bad = {5, 22, 40};
  std::vector<std::int64_t> kept;  // computed here, independently of lib/data
  for (std::int64_t i = 0; i < 48; ++i)
    if (std::find(bad.begin(), bad.end(), i) == bad.end()) kept.push_back(i);
  const std::int64_t G = 8;
  // Shared scan (each rank its share, combined by all-gather) and whole scans per rank.
  const skyssl::data::row_exchange exchange = [&](const std::vector<std::int64_t>& mine) {
    return skyssl::dist::all_gather_ids(*comm, mine);
  };
  for (bool shared : {true, false}) {
    INFO("shared scan ", shared);
    skyssl::data::shard_reader reader(o, r, 77, G, rank, world,
                                      shared ? exchange : skyssl::data::row_exchange{});
    REQUIRE(reader.skipped() == bad);
    REQUIRE(reader.steps_per_epoch() == 45 / G);
    for (std::int64_t epoch = 0; epoch < 2; ++epoch) {
      const skyssl::data::epoch_plan plan(77, epoch, 45, G);
      for (std::int64_t s = 0; s < reader.steps_per_epoch(); ++s) {
        const auto b = reader.next();
        REQUIRE(torch::isfinite(b.images).all().item<bool>());
        const auto all = comm->all_gather(b.ids.contiguous());
        const auto pos = plan.global_ids(s);
        for (std::int64_t i = 0; i < G; ++i)
          REQUIRE(all[i].item<std::int64_t>() ==
                  kept[static_cast<std::size_t>(pos[static_cast<std::size_t>(i)])]);
      }
    }
  }
}
