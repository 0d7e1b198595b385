#pragma once
// A bounded queue between one producer thread and one consumer, and the thread that fills it:
// the prefetch pattern of lib/data's shard_reader and lib/train's input pipeline, written once.
//
//   background_producer<batch> p(depth, [&](bounded_queue<batch>& q) {
//     while (q.push(make_batch())) {}         // push blocks while `depth` items wait
//   });
//   batch b = p.queue().pop().value();        // rethrows whatever the producer threw
//
// Memory is bounded by the capacity: the producer blocks while the queue is full. The consumer
// sees every item pushed before the producer finished (close) or failed (its exception is
// rethrown by pop() after those items, and again on every later pop: failures are sticky).
// abort() stops both sides at once: push() returns false, pop() returns nothing; the producer
// function must then return, and ~background_producer joins it.
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

namespace skyssl {

template <class T>
class bounded_queue {
 public:
  explicit bounded_queue(std::size_t capacity) : capacity_(capacity < 1 ? 1 : capacity) {}
  bounded_queue(const bounded_queue&) = delete;
  bounded_queue& operator=(const bounded_queue&) = delete;

  // Blocks while full. False (item dropped) once the queue is aborted or closed.
  bool push(T item) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return aborted_ || closed_ || items_.size() < capacity_; });
    if (aborted_ || closed_) return false;
    items_.push_back(std::move(item));
    cv_.notify_all();
    return true;
  }
  // Blocks while empty and open. The next item; nothing once closed and drained or aborted;
  // rethrows the producer's exception once the items before it are drained.
  std::optional<T> pop() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return aborted_ || closed_ || !items_.empty(); });
    if (aborted_) return std::nullopt;
    if (!items_.empty()) {
      T item = std::move(items_.front());
      items_.pop_front();
      cv_.notify_all();
      return item;
    }
    if (error_) std::rethrow_exception(error_);
    return std::nullopt;
  }
  // The producer is done: pop() drains what is queued, then returns nothing.
  void close() {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    cv_.notify_all();
  }
  // The producer failed: pop() drains what is queued, then rethrows `e` (every time).
  void fail(std::exception_ptr e) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!error_) error_ = std::move(e);
    closed_ = true;
    cv_.notify_all();
  }
  // Both sides stop now; queued items are dropped.
  void abort() {
    std::lock_guard<std::mutex> lock(mu_);
    aborted_ = true;
    items_.clear();
    cv_.notify_all();
  }
  bool aborted() const {
    std::lock_guard<std::mutex> lock(mu_);
    return aborted_;
  }
  std::size_t capacity() const { return capacity_; }

 private:
  const std::size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<T> items_;
  std::exception_ptr error_;
  bool closed_ = false, aborted_ = false;
};

// Runs `produce(queue)` on its own thread: a normal return closes the queue, an exception
// fails it (the consumer's pop() rethrows it). The destructor aborts the queue and joins.
template <class T>
class background_producer {
 public:
  background_producer(std::size_t capacity, std::function<void(bounded_queue<T>&)> produce)
      : queue_(capacity) {
    thread_ = std::thread([this, f = std::move(produce)] {
      try {
        f(queue_);
        queue_.close();
      } catch (...) {
        queue_.fail(std::current_exception());
      }
    });
  }
  ~background_producer() {
    queue_.abort();
    if (thread_.joinable()) thread_.join();
  }
  background_producer(const background_producer&) = delete;
  background_producer& operator=(const background_producer&) = delete;

  bounded_queue<T>& queue() { return queue_; }

 private:
  bounded_queue<T> queue_;
  std::thread thread_;  // last: starts after queue_ exists, joined before it goes
};

}  // namespace skyssl
