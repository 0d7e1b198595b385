#pragma once
// The one interface through which ranks talk. Backends: MPI (CPU tensors, any MPI
// implementation) and NCCL (CUDA tensors, bootstrapped over MPI). Nothing outside lib/dist
// includes mpi.h or nccl.h.
#include <torch/types.h>

#include <memory>
#include <string>

namespace skyssl::dist {

// Process-wide MPI lifetime. Construct once at the top of main(); safe to construct when
// launched without mpirun (a world of one).
class runtime {
 public:
  runtime(int* argc, char*** argv);
  ~runtime();
  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;
  int rank() const { return rank_; }
  int world() const { return world_; }
  int local_rank() const { return local_rank_; }

 private:
  int rank_ = 0, world_ = 1, local_rank_ = 0;
  bool owns_ = false;
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
  // Concatenation along dim 0 of every rank's tensor, in rank order. Shapes must match.
  virtual torch::Tensor all_gather(const torch::Tensor& t) = 0;
  // In place, from root.
  virtual void broadcast(torch::Tensor& t, int root) = 0;
  virtual void barrier() = 0;
  // Take every rank down now with this message; never returns.
  [[noreturn]] virtual void abort(const std::string& message, int exit_code) = 0;
};

// backend: "mpi", "nccl", or "auto" (NCCL when built with it and a GPU is visible, else MPI).
std::unique_ptr<communicator> make_communicator(const std::string& backend);

// True when the NCCL backend was compiled in.
bool nccl_available();

}  // namespace skyssl::dist
