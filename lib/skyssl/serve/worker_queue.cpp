#include "skyssl/serve/worker_queue.hpp"

namespace skyssl::serve {
namespace {
thread_local bool rejecting_thread = false;
}

worker_queue::worker_queue(int workers, std::size_t queue_limit) : queue_limit_(queue_limit) {
  for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { work(false); });
  threads_.emplace_back([this] { work(true); });
}

worker_queue::~worker_queue() { shutdown(); }

bool worker_queue::overloaded() { return rejecting_thread; }

void worker_queue::enqueue(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> g(m_);
    auto& to = jobs_.size() < queue_limit_ ? jobs_ : rejects_;
    if (&to == &jobs_ || rejects_.size() < 4 * queue_limit_ + 16) {
      to.push_back(std::move(fn));
      cv_.notify_all();
      return;
    }
  }
  // Even the rejecting thread is behind: answer on the accepting thread, which also slows
  // accepting down until the burst passes.
  rejecting_thread = true;
  fn();
  rejecting_thread = false;
}

void worker_queue::work(bool rejecting) {
  rejecting_thread = rejecting;
  auto& mine = rejecting ? rejects_ : jobs_;
  for (;;) {
    std::function<void()> fn;
    {
      std::unique_lock<std::mutex> lk(m_);
      cv_.wait(lk, [&] { return stopping_ || !mine.empty(); });
      if (mine.empty()) return;  // stopping, nothing left
      fn = std::move(mine.front());
      mine.pop_front();
    }
    fn();
  }
}

void worker_queue::shutdown() {
  {
    std::lock_guard<std::mutex> g(m_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

}  // namespace skyssl::serve
