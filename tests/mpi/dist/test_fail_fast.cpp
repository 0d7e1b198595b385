// The MPI test harness fails fast and loudly: a test case failing on one rank of 4 ends the
// whole job within seconds (not ctest's 180-300 s timeout), with every rank's output shown
// rank-prefixed. Launches fail_fast_demo under mpiexec with a doctest filter per scenario.
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <string>

#include "tests/support/test_paths.hpp"
#include "tests/support/run_command.hpp"

namespace {

struct outcome {
  int exit_code = -1;
  double seconds = 0;
  std::string output;
};

outcome launch(const std::string& test_case, double collective_timeout_s) {
  // timeout -s KILL bounds this test even if the harness were broken.
  const std::string cmd =
      "SKYSSL_TEST_COLLECTIVE_TIMEOUT_S=" + std::to_string(collective_timeout_s) +
      " timeout -s KILL 150 " + skyssl::test::mpiexec() + " -n 4 --oversubscribe " +
      skyssl::test::program("skyssl_mpi_fail_fast_demo") + " '-tc=" + test_case + "'";
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = skyssl::test::run_command(cmd);
  outcome o;
  o.output = r.output;
  o.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  o.exit_code = r.code();
  return o;
}

bool has(const std::string& out, const std::string& s) { return out.find(s) != std::string::npos; }

void every_rank_reached(const outcome& o) {
  for (int r = 0; r < 4; ++r)
    CHECK(has(o.output, "[rank " + std::to_string(r) + "/4] demo: rank " + std::to_string(r) +
                            " reached the collective"));
}

}  // namespace

TEST_CASE("control: a passing MPI test shows rank 0's output only and exits 0") {
  const outcome o = launch("control*", 30);
  INFO(o.output);
  CHECK(o.exit_code == 0);
  CHECK(has(o.output, "demo: rank 0 reached the collective"));
  CHECK_FALSE(has(o.output, "demo: rank 1 reached"));
  CHECK_FALSE(has(o.output, "[rank "));
}

TEST_CASE("a REQUIRE failing on rank 1 ends all 4 ranks at once, every rank's output shown") {
  // The collective timeout is long here: the job must end through the failing rank's abort,
  // not through the watchdog.
  const outcome o = launch("deliberate: rank 1 fails*", 120);
  INFO(o.output);
  CHECK(o.exit_code == 1);
  CHECK(o.seconds < 60);
  every_rank_reached(o);
  CHECK(has(o.output, "[rank 1/4]"));
  CHECK(has(o.output, "deliberate failure on rank 1"));
  CHECK(has(o.output, "failed on rank 1 (every rank's output is above)"));
}

TEST_CASE("a rank stalled outside MPI: the watchdog ends the job after its timeout") {
  const outcome o = launch("deliberate: rank 1 stalls*", 4);
  INFO(o.output);
  CHECK(o.exit_code == 1);
  // Not before the watchdog's deadline (the others really waited), well before rank 1 wakes.
  CHECK(o.seconds >= 4);
  CHECK(o.seconds < 60);
  every_rank_reached(o);
  CHECK(has(o.output, "dist watchdog: all_reduce_sum (MPI_Iallreduce of 16 x Float)"));
  CHECK(has(o.output, "dist.timeout_s = 4 s"));
}
