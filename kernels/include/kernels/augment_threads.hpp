#pragma once
// augment.threads on the host: a persistent pool of threads (core/thread_pool) that augment
// contiguous sub-batches of one batch at once (the caller's thread takes the first). Each thread
// runs the kernels' own per-sample body (two_views_body) over its range with a scratch of its own
// (serial_team.hpp), so a sample's views are bit-identical whatever the thread count: the
// arithmetic per sample is the Kokkos dispatch's. Created once per input pipeline, not per
// batch. docs/augmentations.md.
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "skyssl/core/thread_pool.hpp"

namespace skyssl::kernels {

class serial_team;

// How many threads augment.threads may ask for here: the CPUs this process may run on
// (sched_getaffinity, so a Slurm CPU binding counts), at least 1.
int usable_cores();

class augment_threads {
 public:
  // `threads` >= 1 (1: no helper threads, everything on the caller).
  explicit augment_threads(int threads);
  ~augment_threads();  // stops and joins the helpers
  augment_threads(const augment_threads&) = delete;
  augment_threads& operator=(const augment_threads&) = delete;

  int size() const { return pool_.size(); }

  // Splits [0, n) into min(n, size()) contiguous ranges (thread_pool's shares) and calls
  // work(team, lo, hi) for each, range k on thread k (0: the caller), with that thread's own
  // serial_team. Returns when all are done; rethrows the first error. One call at a time.
  void for_ranges(std::int64_t n,
                  const std::function<void(serial_team&, std::int64_t, std::int64_t)>& work);

 private:
  thread_pool pool_;
  std::vector<std::unique_ptr<serial_team>> teams_;  // one per thread
};

}  // namespace skyssl::kernels
