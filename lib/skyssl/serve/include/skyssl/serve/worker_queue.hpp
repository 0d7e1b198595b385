#pragma once
// The server's connections go to a fixed number of worker threads through a queue of bounded
// length. A connection that finds the queue full is not queued (a burst would grow the queue,
// its memory and every waiting client's latency without bound) but handed to one small
// rejecting thread, where the request is read and answered 503 at once.
#include <httplib.h>

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace skyssl::serve {

class worker_queue : public httplib::TaskQueue {
 public:
  worker_queue(int workers, std::size_t queue_limit);
  ~worker_queue() override;
  void enqueue(std::function<void()> fn) override;
  // Lets the workers finish what is queued, then joins them (httplib calls it on stop()).
  void shutdown() override;

  // True while the calling thread serves a connection the queue had no room for.
  static bool overloaded();

 private:
  void work(bool rejecting);

  std::size_t queue_limit_;
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_, rejects_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace skyssl::serve
