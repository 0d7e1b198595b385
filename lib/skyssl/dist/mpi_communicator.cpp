#include "skyssl/dist/mpi_communicator.hpp"

#include <fmt/format.h>
#include <mpi.h>

#include <cstdlib>

#include "skyssl/core/error.hpp"
#include "skyssl/core/log.hpp"

namespace skyssl::dist {
namespace {

MPI_Datatype mpi_type(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kFloat32: return MPI_FLOAT;
    case torch::kFloat64: return MPI_DOUBLE;
    case torch::kInt64: return MPI_INT64_T;
    case torch::kInt32: return MPI_INT32_T;
    case torch::kUInt8: return MPI_UINT8_T;
    default:
      throw dist_error(fmt::format("MPI communicator: unsupported dtype {}",
                                   std::string(c10::toString(t.scalar_type()))));
  }
}

void check(int rc, const char* what) {
  if (rc != MPI_SUCCESS) {
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    throw dist_error(fmt::format("{} failed: {}", what, std::string(msg, len)));
  }
}

void require_cpu_contiguous(const torch::Tensor& t, const char* what) {
  if (!t.device().is_cpu())
    throw dist_error(fmt::format("{}: the MPI backend takes CPU tensors (got {})", what,
                                 t.device().str()));
  if (!t.is_contiguous()) throw dist_error(fmt::format("{}: tensor must be contiguous", what));
}

class mpi_communicator final : public communicator {
 public:
  mpi_communicator() {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &world_);
  }
  std::string backend() const override { return "mpi"; }
  int rank() const override { return rank_; }
  int world() const override { return world_; }

  void all_reduce_sum(torch::Tensor& t) override {
    require_cpu_contiguous(t, "all_reduce");
    check(MPI_Allreduce(MPI_IN_PLACE, t.data_ptr(), static_cast<int>(t.numel()), mpi_type(t),
                        MPI_SUM, MPI_COMM_WORLD),
          "MPI_Allreduce");
  }

  torch::Tensor all_gather(const torch::Tensor& t_in) override {
    torch::Tensor t = t_in.contiguous();
    require_cpu_contiguous(t, "all_gather");
    std::vector<int64_t> shape(t.sizes().begin(), t.sizes().end());
    if (shape.empty()) shape.push_back(1);
    shape[0] *= world_;
    torch::Tensor out = torch::empty(shape, t.options());
    check(MPI_Allgather(t.data_ptr(), static_cast<int>(t.numel()), mpi_type(t), out.data_ptr(),
                        static_cast<int>(t.numel()), mpi_type(t), MPI_COMM_WORLD),
          "MPI_Allgather");
    return out;
  }

  void broadcast(torch::Tensor& t, int root) override {
    require_cpu_contiguous(t, "broadcast");
    check(MPI_Bcast(t.data_ptr(), static_cast<int>(t.numel()), mpi_type(t), root, MPI_COMM_WORLD),
          "MPI_Bcast");
  }

  void barrier() override { check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier"); }

  [[noreturn]] void abort(const std::string& message, int exit_code) override {
    log::write_error(message);
    MPI_Abort(MPI_COMM_WORLD, exit_code);
    std::_Exit(exit_code);
  }

 private:
  int rank_ = 0, world_ = 1;
};

}  // namespace

std::unique_ptr<communicator> make_mpi_communicator() {
  return std::make_unique<mpi_communicator>();
}

}  // namespace skyssl::dist
