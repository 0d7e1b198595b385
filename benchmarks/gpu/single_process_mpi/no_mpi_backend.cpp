// The minimal GPU-check build has no MPI backend: dist::make_communicator("mpi") (the only
// caller) says so instead of failing to link.
#include "skyssl/core/error.hpp"
#include "skyssl/dist/mpi_communicator.hpp"
#include "skyssl/dist/make_communicator.hpp"

namespace skyssl::dist {

std::unique_ptr<communicator> make_mpi_communicator() {
  throw dist_error(
      "dist.backend = 'mpi' is not in the minimal GPU-check build (benchmarks/gpu, no MPI): use "
      "the local or NCCL backend, or the full build (docs/gpu.md)");
}

}  // namespace skyssl::dist
