#pragma once
// data.cache = "memory": the all-to-all that brings a rank the rows of a batch from the ranks
// that hold them (data/memory_cache.hpp). The exchange runs on the training thread, where MPI
// is called (docs/architecture.md); the pipeline thread takes the results, in batch order, from
// a mailbox.
#include <torch/types.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <vector>

namespace skyssl::data {
class memory_cache;
}
namespace skyssl::dist {
class communicator;
}

namespace skyssl::train {

class cache_exchange {
 public:
  struct batch_rows {
    std::int64_t epoch = 0, step = 0;
    std::vector<std::int64_t> ids;  // the ids this rank needs, in order
    torch::Tensor rows;             // ids.size() x row_floats, in ids order
  };
  // The ids rank `r` needs for the batch being exchanged, in order.
  using needed_fn = std::function<std::vector<std::int64_t>(int r)>;

  cache_exchange(data::memory_cache& cache, dist::communicator& comm, std::int64_t steps_per_epoch);

  // Collective: every rank packs, for each peer, the rows of its share that the peer needs
  // (a pure function of the plan: no request round), and the all-to-all brings this rank its
  // own. The result goes to the mailbox. An error closes the mailbox (take() then throws).
  void exchange(std::int64_t epoch, std::int64_t step, const needed_fn& needed);

  // The batch take() expects next (the pipeline's start position).
  void expect(std::int64_t epoch, std::int64_t step);
  // The next exchanged batch; waits for it. An error when the exchange stopped or the batches
  // come out of order.
  batch_rows take();

 private:
  data::memory_cache& cache_;
  dist::communicator& comm_;
  std::int64_t steps_per_epoch_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<batch_rows> mailbox_;
  bool closed_ = false;
  std::int64_t expect_epoch_ = 0, expect_step_ = 0;
};

}  // namespace skyssl::train
