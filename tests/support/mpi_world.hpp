#pragma once
// The communicator MPI tests use: the MPI backend with a short collective watchdog, so a rank
// left waiting for a peer that failed, stalled or took another path throws dist_error naming the
// collective within seconds, instead of blocking until ctest's 180-300 s timeout.
// SKYSSL_TEST_COLLECTIVE_TIMEOUT_S overrides the default (scripts/sanitize.sh raises it: a
// sanitized Debug build computes several times slower between collectives).
#include <cstdlib>
#include <memory>

#include "skyssl/dist/communicator.hpp"
#include "skyssl/dist/make_communicator.hpp"

namespace skyssl::test {

inline double collective_timeout_s() {
  const char* s = std::getenv("SKYSSL_TEST_COLLECTIVE_TIMEOUT_S");
  return s && *s ? std::atof(s) : 30.0;
}

inline std::unique_ptr<dist::communicator> mpi_world() {
  auto comm = dist::make_communicator("mpi");
  comm->set_timeout(collective_timeout_s());
  return comm;
}

}  // namespace skyssl::test
