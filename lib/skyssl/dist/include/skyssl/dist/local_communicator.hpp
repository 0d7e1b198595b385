#pragma once
// A world of one without MPI: collectives are identities. For tests (a single-rank reference
// computed on every rank inside an MPI job), single-process tools, and runs launched without
// mpirun. Works with CPU and CUDA tensors alike, since it never moves data.
#include "skyssl/dist/communicator.hpp"

namespace skyssl::dist {

class local_communicator final : public communicator {
 public:
  std::string backend() const override { return "local"; }
  int rank() const override { return 0; }
  int world() const override { return 1; }
  void all_reduce_sum(torch::Tensor& t) override;
  torch::Tensor all_gather(const torch::Tensor& t) override;
  void broadcast(torch::Tensor& t, int root) override;
  void barrier() override {}
  torch::Tensor all_to_all(const torch::Tensor& send, const std::vector<std::int64_t>& send_rows,
                           const std::vector<std::int64_t>& recv_rows) override;
  [[noreturn]] void abort(const std::string& message, int exit_code) override;
};

}  // namespace skyssl::dist
