// A failing rank takes the whole job down promptly, with its message, and never leaves the
// others hanging in a collective. Launches tests/unit/dist/fail_helper under mpiexec.
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <string>

#include "tests/support/run_command.hpp"
#include "tests/support/test_paths.hpp"

namespace {

struct outcome {
  int exit_code = -1;
  double seconds = 0;  // from the injected failure to mpiexec's exit (-1: no failure seen)
  std::string output;
};

// `timeout -s KILL` bounds the test even if our failure handling were broken.
outcome launch(int ranks, const std::string& args) {
  const std::string cmd = "timeout -s KILL 90 " + skyssl::test::mpiexec() + " -n " +
                          std::to_string(ranks) + " --oversubscribe " +
                          skyssl::test::program("skyssl_dist_fail_helper") + " " + args;
  const auto r = skyssl::test::run_command(cmd);
  outcome o;
  o.output = r.output;
  const double end =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  const std::string mark = "injects its failure at t=";
  const auto at = o.output.find(mark);
  o.seconds = at == std::string::npos ? -1 : end - std::stod(o.output.substr(at + mark.size()));
  o.exit_code = r.code();
  return o;
}

}  // namespace

TEST_CASE("the helper succeeds when nothing fails (so the failures below mean something)") {
  const outcome o = launch(2, "");
  INFO(o.output);
  CHECK(o.exit_code == 0);
  CHECK(o.output.find("all 2 ranks finished") != std::string::npos);
}

TEST_CASE("a rank that throws takes all 4 ranks down within seconds, with its message") {
  const outcome o = launch(4, "--throw-on-rank 2");
  INFO(o.output);
  CHECK(o.exit_code == 3);  // the code fail_helper passes to communicator::abort
  CHECK(o.seconds >= 0);
  CHECK(o.seconds < 20);
  CHECK(o.output.find("error: injected failure on rank 2") != std::string::npos);
  CHECK(o.output.find("all 4 ranks finished") == std::string::npos);
}

TEST_CASE("a rank killed by SIGKILL takes the job down within seconds") {
  const outcome o = launch(4, "--kill-on-rank 1");
  INFO(o.output);
  // mpiexec reports the signal as 128 + 9 (OpenMPI; `timeout -s KILL` would give the same,
  // which the time bound below rules out).
  CHECK(o.exit_code == 128 + 9);
  CHECK(o.seconds >= 0);
  CHECK(o.seconds < 20);
  CHECK(o.output.find("all 4 ranks finished") == std::string::npos);
}

TEST_CASE("the watchdog turns a rank stalled outside MPI into an abort naming the collective") {
  const outcome o = launch(2, "--stall-on-rank 1 --timeout 2");
  INFO(o.output);
  CHECK(o.exit_code == 3);  // the watchdog's dist_error, caught and passed to abort
  // Not before the 2 s deadline: rank 0 really waited (it entered the collective when rank 1
  // began to stall, within the scheduling noise allowed here).
  CHECK(o.seconds >= 1.8);
  CHECK(o.seconds < 20);
  CHECK(o.output.find("dist watchdog: all_reduce_sum (MPI_Iallreduce of 1000 x Float)") !=
        std::string::npos);
  CHECK(o.output.find("dist.timeout_s = 2 s on rank 0") != std::string::npos);
  // The probe after the deadline names the rank that never answered, with its host.
  CHECK(o.output.find("silent peer(s), no answer within 1 s: rank 1 on ") != std::string::npos);
}
