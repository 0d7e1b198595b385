#pragma once
// The one interface through which ranks talk. Backends: MPI (CPU tensors, any MPI
// implementation), NCCL (CUDA tensors, bootstrapped over MPI) and local (a world of one, no
// MPI at all, for tests and single-process tools). Nothing outside lib/dist includes mpi.h or
// nccl.h. See docs/distributed.md.
#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace skyssl::dist {

// A collective started but not necessarily finished (see communicator::start_all_reduce_sum).
class pending_op {
 public:
  virtual ~pending_op() = default;
  // Drive progress without blocking; true once the operation has completed.
  virtual bool test() = 0;
  // Block until complete (or throw dist_error when the watchdog deadline passes).
  virtual void wait() = 0;
};

class communicator {
 public:
  virtual ~communicator() = default;
  virtual std::string backend() const = 0;
  virtual int rank() const = 0;
  virtual int world() const = 0;
  // In place, sum over ranks. Contiguous tensors only.
  virtual void all_reduce_sum(torch::Tensor& t) = 0;
  // In place, sum then divide by world size.
  void all_reduce_mean(torch::Tensor& t);
  // Start an in-place sum over ranks and return at once where the backend allows (MPI:
  // MPI_Iallreduce; NCCL: its stream). `t` must stay alive and untouched until the returned
  // op completes. Every rank must start its operations in the same order. The default
  // implementation is blocking and returns a completed op.
  virtual std::unique_ptr<pending_op> start_all_reduce_sum(torch::Tensor& t);
  // Concatenation along dim 0 of every rank's tensor, in rank order. Shapes must match.
  // A 0-d tensor gathers into a 1-d tensor of length world().
  virtual torch::Tensor all_gather(const torch::Tensor& t) = 0;
  // In place, from root.
  virtual void broadcast(torch::Tensor& t, int root) = 0;
  // Personalised exchange along dim 0: `send` holds, in rank order, send_rows[p] rows for rank
  // p; the result holds, in rank order, recv_rows[p] rows from rank p (rows shaped like send's,
  // same dtype). Every rank's send_rows[q] must equal rank q's recv_rows[me]. MPI backend:
  // MPI_Alltoallv. The default throws dist_error naming the backend (NCCL: not implemented).
  virtual torch::Tensor all_to_all(const torch::Tensor& send,
                                   const std::vector<std::int64_t>& send_rows,
                                   const std::vector<std::int64_t>& recv_rows);
  // Ranks sharing this rank's node (MPI: MPI_COMM_TYPE_SHARED); 1 where unknown.
  virtual int ranks_on_node() const { return 1; }
  virtual void barrier() = 0;
  // Take every rank down now with this message; never returns.
  [[noreturn]] virtual void abort(const std::string& message, int exit_code) = 0;
  // Collectives not complete after this many seconds throw dist_error naming the collective
  // (0: wait forever). Backends without a watchdog ignore it.
  virtual void set_timeout(double seconds) { timeout_s_ = seconds; }
  double timeout() const { return timeout_s_; }

 protected:
  double timeout_s_ = 0.0;
};

}  // namespace skyssl::dist
