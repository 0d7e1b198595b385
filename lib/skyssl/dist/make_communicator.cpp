#include "skyssl/dist/make_communicator.hpp"

#include "skyssl/core/error.hpp"
#include "skyssl/dist/device.hpp"
#include "skyssl/dist/local_communicator.hpp"
#include "skyssl/dist/mpi_communicator.hpp"
#ifdef SKYSSL_HAVE_NCCL
#include "skyssl/dist/nccl_communicator.hpp"
#endif

namespace skyssl::dist {

#ifndef SKYSSL_HAVE_NCCL
bool nccl_available() { return false; }
#endif

std::string resolve_backend(const std::string& backend) {
  if (backend == "mpi" || backend == "nccl" || backend == "local") return backend;
  if (backend != "auto")
    throw config_error("dist.backend must be 'mpi', 'nccl', 'auto' or 'local', got '" + backend +
                       "'");
#ifdef SKYSSL_HAVE_NCCL
  // NCCL only pays off when the tensors live on the GPU: a CPU-only LibTorch keeps them on
  // the host even on a GPU node.
  if (cuda_device_count() > 0 && at::hasCUDA()) return "nccl";
#endif
  return "mpi";
}

std::unique_ptr<communicator> make_communicator(const std::string& backend) {
  const std::string b = resolve_backend(backend);
  if (b == "local") return std::make_unique<local_communicator>();
  if (b == "mpi") return make_mpi_communicator();
#ifdef SKYSSL_HAVE_NCCL
  return make_nccl_communicator();
#else
  throw config_error(
      "dist.backend = 'nccl' but this build has no NCCL backend (configure with "
      "NCCL and the CUDA runtime under CUDA_HOME or /usr/local/cuda)");
#endif
}

std::unique_ptr<communicator> make_communicator(const options& opts) {
  auto comm = make_communicator(opts.backend);
  comm->set_timeout(opts.timeout_s);
  return comm;
}

}  // namespace skyssl::dist
