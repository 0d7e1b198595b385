// doctest under MPI: every rank runs every test case; the exit code is the max over ranks so
// mpiexec (and ctest) see a failure on any rank.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "skyssl/dist/communicator.hpp"

int main(int argc, char** argv) {
  skyssl::dist::runtime rt(&argc, &argv);
  doctest::Context ctx(argc, argv);
  if (rt.rank() != 0) ctx.setOption("out", "/dev/null");
  int rc = ctx.run();
  auto comm = skyssl::dist::make_communicator("mpi");
  auto t = torch::tensor({static_cast<int64_t>(rc != 0)});
  comm->all_reduce_sum(t);
  const bool any_failed = t.item<int64_t>() > 0;
  if (rt.rank() == 0 && any_failed && rc == 0)
    std::fprintf(stderr, "a test failed on another rank\n");
  return any_failed ? 1 : 0;
}
