#include "skyssl/core/thread_pool.hpp"

#include <algorithm>

namespace skyssl {

thread_pool::thread_pool(int threads) {
  const int t = threads < 1 ? 1 : threads;
  errors_.resize(static_cast<std::size_t>(t));
  workers_.reserve(static_cast<std::size_t>(t - 1));
  for (int s = 1; s < t; ++s) workers_.emplace_back([this, s] { work(s); });
}

thread_pool::~thread_pool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  start_cv_.notify_all();
  for (auto& w : workers_) w.join();
}

void thread_pool::run_share(int share) {
  const auto T = static_cast<std::size_t>(active_);
  const auto s = static_cast<std::size_t>(share);
  if (s >= T) return;
  const std::size_t lo = n_ * s / T, hi = n_ * (s + 1) / T;
  try {
    (*fn_)(lo, hi, share);
  } catch (...) {
    errors_[s] = std::current_exception();
  }
}

void thread_pool::work(int share) {
  std::uint64_t seen = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      start_cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
    }
    run_share(share);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (--pending_ > 0) continue;
    }
    done_cv_.notify_one();
  }
}

void thread_pool::parallel_for(std::size_t n, const share_fn& fn) {
  if (n == 0) return;
  std::lock_guard<std::mutex> call(call_mu_);
  for (auto& e : errors_) e = nullptr;
  fn_ = &fn;
  n_ = n;
  // No empty shares: a loop of n < size() items runs on n threads (one item wakes no one).
  active_ = static_cast<int>(std::min<std::size_t>(n, static_cast<std::size_t>(size())));
  const bool wake = active_ > 1;
  if (wake) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      pending_ = static_cast<int>(workers_.size());
      ++generation_;
    }
    start_cv_.notify_all();
  }
  run_share(0);
  if (wake) {
    std::unique_lock<std::mutex> lock(mu_);
    done_cv_.wait(lock, [&] { return pending_ == 0; });
  }
  fn_ = nullptr;
  for (auto& e : errors_)
    if (e) std::rethrow_exception(e);
}

}  // namespace skyssl
