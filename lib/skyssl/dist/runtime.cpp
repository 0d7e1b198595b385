#include <fmt/format.h>
#include <mpi.h>

#include <cstdlib>

#include "skyssl/core/config.hpp"
#include "skyssl/core/error.hpp"
#include "skyssl/core/log.hpp"
#include "skyssl/dist/communicator.hpp"
#include "skyssl/dist/device.hpp"
#include "skyssl/dist/local_communicator.hpp"
#include "skyssl/dist/mpi_communicator.hpp"
#ifdef SKYSSL_HAVE_NCCL
#include "skyssl/dist/nccl_communicator.hpp"
#endif

namespace skyssl::dist {

runtime::runtime(int* argc, char*** argv) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    // FUNNELED: only the main thread calls MPI. Prefetch threads do plain I/O (data.cache =
    // "memory" runs its all-to-all on the training thread too, see train/pipeline.hpp), and the
    // gradient bucketer starts MPI_Iallreduce from autograd hooks only when they run on the
    // thread that owns it (on CPU, LibTorch runs backward on the calling thread: checked by
    // tests/mpi/dist/test_bucketer.cpp); otherwise it defers the launch to finish().
    MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &thread_level_);
    owns_ = true;
  } else {
    MPI_Query_thread(&thread_level_);
  }
  // Errors come back as return codes so they surface as dist_error with a message.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &world_);
  local_rank_ = dist::local_rank();
  log::set_rank(rank_, world_);
}

runtime::~runtime() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (owns_ && !finalized) MPI_Finalize();
}

void communicator::all_reduce_mean(torch::Tensor& t) {
  all_reduce_sum(t);
  if (world() > 1) t.div_(world());
}

namespace {
class completed_op final : public pending_op {
 public:
  bool test() override { return true; }
  void wait() override {}
};
}  // namespace

std::unique_ptr<pending_op> communicator::start_all_reduce_sum(torch::Tensor& t) {
  all_reduce_sum(t);
  return std::make_unique<completed_op>();
}

torch::Tensor communicator::all_to_all(const torch::Tensor&, const std::vector<std::int64_t>&,
                                       const std::vector<std::int64_t>&) {
  throw dist_error(fmt::format(
      "all_to_all is not implemented for the {} backend (data.cache = \"memory\" needs it): use "
      "dist.backend = \"mpi\" or data.cache = \"none\"",
      backend()));
}

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

options options::from_config(const config& cfg) {
  options o;
  o.backend = cfg.get_string("dist.backend", o.backend);
  if (o.backend != "mpi" && o.backend != "nccl" && o.backend != "auto" && o.backend != "local")
    throw config_error(
        fmt::format("dist.backend must be 'mpi', 'nccl', 'auto' or 'local', got '{}'", o.backend));
  o.bucket_mb = cfg.get_double("dist.bucket_mb", o.bucket_mb);
  check_positive("dist.bucket_mb", o.bucket_mb);
  o.grad_sync = cfg.get_string("dist.grad_sync", o.grad_sync);
  if (o.grad_sync != "bucketed" && o.grad_sync != "flat")
    throw config_error(
        fmt::format("dist.grad_sync must be 'bucketed' or 'flat', got '{}'", o.grad_sync));
  o.check_every = cfg.get_int("dist.check_every", o.check_every);
  if (o.check_every < 0)
    throw config_error(
        fmt::format("dist.check_every must be >= 0 (0 = off), got {}", o.check_every));
  o.timeout_s = cfg.get_double("dist.timeout_s", o.timeout_s);
  if (o.timeout_s < 0)
    throw config_error(fmt::format("dist.timeout_s must be >= 0 (0 = off), got {}", o.timeout_s));
  return o;
}

}  // namespace skyssl::dist
