#pragma once
// A fixed set of threads that run the shares of one parallel loop at a time: lib/data's read
// threads, started once per reader instead of once per batch.
//
//   thread_pool pool(4);                       // 3 workers; the caller runs share 0
//   pool.parallel_for(rows.size(), [&](std::size_t lo, std::size_t hi, int share) { ... });
//
// parallel_for splits [0, n) into T = min(n, size()) contiguous, non-empty shares,
// [n t/T, n (t+1)/T) for share t, runs share 0 on the calling thread and the others on the
// workers, and returns once every share has returned. An exception thrown by a share is
// rethrown by parallel_for after all shares are done (the lowest share's, when several throw).
// One loop at a time: concurrent callers are served in turn. The destructor joins the workers.
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace skyssl {

class thread_pool {
 public:
  // threads >= 1 (values below 1 mean 1): threads - 1 workers plus the caller.
  explicit thread_pool(int threads);
  ~thread_pool();
  thread_pool(const thread_pool&) = delete;
  thread_pool& operator=(const thread_pool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  using share_fn = std::function<void(std::size_t lo, std::size_t hi, int share)>;
  void parallel_for(std::size_t n, const share_fn& fn);

 private:
  void work(int share);
  void run_share(int share);

  std::vector<std::thread> workers_;
  std::mutex call_mu_;  // one parallel_for at a time
  std::mutex mu_;
  std::condition_variable start_cv_, done_cv_;
  const share_fn* fn_ = nullptr;  // the loop being run (valid while pending_ > 0)
  std::size_t n_ = 0;
  int active_ = 1;                // shares of the loop being run: min(n, size())
  std::uint64_t generation_ = 0;  // bumped per loop: a worker runs each generation once
  int pending_ = 0;               // worker shares not yet finished
  bool stop_ = false;
  std::vector<std::exception_ptr> errors_;  // per share
};

}  // namespace skyssl
