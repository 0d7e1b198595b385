#include "kernels/augment_threads.hpp"

#include <sched.h>

#include <stdexcept>
#include <string>

#include "kernels/serial_team.hpp"

#if !defined(KOKKOS_ENABLE_SERIAL)
#error "augment_threads needs Kokkos' Serial backend (the per-thread teams are Serial teams)"
#endif

namespace skyssl::kernels {

int usable_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw > 0 ? static_cast<int>(hw) : 1;
}

augment_threads::augment_threads(int threads) : threads_(threads) {
  if (threads < 1)
    throw std::invalid_argument("augment_threads: threads must be >= 1, got " +
                                std::to_string(threads));
  for (int k = 0; k < threads_; ++k) teams_.push_back(std::make_unique<serial_team>());
  helpers_.reserve(static_cast<std::size_t>(threads_ - 1));
  for (int k = 1; k < threads_; ++k) helpers_.emplace_back([this, k] { helper(k); });
}

augment_threads::~augment_threads() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  start_cv_.notify_all();
  for (auto& t : helpers_) t.join();
}

void augment_threads::run_range(int k) {
  const std::int64_t base = n_ / threads_, extra = n_ % threads_;
  const std::int64_t lo = k * base + (k < extra ? k : extra);
  const std::int64_t hi = lo + base + (k < extra ? 1 : 0);
  if (lo >= hi) return;
  try {
    (*work_)(*teams_[static_cast<std::size_t>(k)], lo, hi);
  } catch (...) {
    std::lock_guard<std::mutex> lk(mu_);
    if (!error_) error_ = std::current_exception();
  }
}

void augment_threads::helper(int k) {
  std::uint64_t seen = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> lk(mu_);
      start_cv_.wait(lk, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
    }
    run_range(k);
    {
      std::lock_guard<std::mutex> lk(mu_);
      --pending_;
    }
    done_cv_.notify_one();
  }
}

void augment_threads::for_ranges(
    std::int64_t n, const std::function<void(serial_team&, std::int64_t, std::int64_t)>& work) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    n_ = n;
    work_ = &work;
    error_ = nullptr;
    pending_ = threads_ - 1;
    ++generation_;
  }
  start_cv_.notify_all();
  run_range(0);
  std::exception_ptr e;
  {
    std::unique_lock<std::mutex> lk(mu_);
    done_cv_.wait(lk, [&] { return pending_ == 0; });
    work_ = nullptr;
    e = error_;
  }
  if (e) std::rethrow_exception(e);
}

}  // namespace skyssl::kernels
