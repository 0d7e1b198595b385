#pragma once
// The process's MPI lifetime (lib/dist is the only place that includes mpi.h).

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

}  // namespace skyssl::dist
