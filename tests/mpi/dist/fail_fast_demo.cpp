// Deliberately failing MPI test cases, to show that the MPI test harness
// (tests/support/mpi_doctest_main.cpp) fails fast and keeps every rank's output. Never run by
// ctest directly: test_fail_fast.cpp launches it with a doctest filter and checks how it fails.
#include "tests/support/torch_doctest.hpp"

#include <chrono>
#include <cstdio>
#include <thread>

#include "tests/support/mpi_world.hpp"

namespace {

// Every rank has printed its line before any rank goes on to fail: the scenarios below are
// about what happens next, not about start-up skew (large under sanitizers).
void all_reached(skyssl::dist::communicator& comm) {
  std::printf("demo: rank %d reached the collective\n", comm.rank());
  std::fflush(stdout);
  auto sync = skyssl::dist::make_communicator("mpi");
  sync->set_timeout(120);
  sync->barrier();
}

void sum_once(skyssl::dist::communicator& comm) {
  torch::Tensor t = torch::ones({16});
  comm.all_reduce_sum(t);
  CHECK(t[0].item<float>() == comm.world());
}

}  // namespace

TEST_CASE("control: every rank passes") {
  auto comm = skyssl::test::mpi_world();
  all_reached(*comm);
  sum_once(*comm);
}

TEST_CASE("deliberate: rank 1 fails a REQUIRE while the others wait in a collective") {
  auto comm = skyssl::test::mpi_world();
  all_reached(*comm);
  REQUIRE_MESSAGE(comm->rank() != 1, "deliberate failure on rank 1");
  sum_once(*comm);  // rank 1 never arrives
}

TEST_CASE("deliberate: rank 1 stalls outside MPI while the others wait in a collective") {
  auto comm = skyssl::test::mpi_world();
  all_reached(*comm);
  if (comm->rank() == 1) std::this_thread::sleep_for(std::chrono::seconds(300));
  sum_once(*comm);
}
