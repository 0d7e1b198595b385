// The one bounded prefetch queue (core/bounded_queue.hpp): order, the bound, an error reaching
// the consumer after the items before it (and again after), close, and abort unblocking both
// sides.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>

#include "skyssl/core/bounded_queue.hpp"

using skyssl::background_producer;
using skyssl::bounded_queue;

TEST_CASE("bounded_queue: items in order, producer held at the capacity") {
  std::atomic<int> pushed{0};
  background_producer<int> p(3, [&](bounded_queue<int>& q) {
    for (int i = 0; i < 10; ++i) {
      if (!q.push(i)) return;
      ++pushed;
    }
  });
  // Nobody pops: the producer stops after 3 items.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK(pushed.load() == 3);
  for (int i = 0; i < 10; ++i) {
    const auto v = p.queue().pop();
    REQUIRE(v.has_value());
    CHECK(*v == i);
  }
  CHECK_FALSE(p.queue().pop().has_value());  // closed and drained
  CHECK_FALSE(p.queue().pop().has_value());
}

TEST_CASE("bounded_queue: the producer's exception follows its items and stays") {
  background_producer<int> p(4, [](bounded_queue<int>& q) {
    q.push(1);
    q.push(2);
    throw std::runtime_error("file 'x.h5' is bad");
  });
  CHECK(p.queue().pop().value() == 1);
  CHECK(p.queue().pop().value() == 2);
  CHECK_THROWS_WITH_AS(p.queue().pop(), "file 'x.h5' is bad", std::runtime_error);
  CHECK_THROWS_AS(p.queue().pop(), std::runtime_error);  // sticky
}

TEST_CASE("bounded_queue: abort unblocks a full producer and an empty consumer") {
  // Destroying the producer while it is blocked on a full queue must return promptly.
  const auto t0 = std::chrono::steady_clock::now();
  {
    background_producer<int> p(1, [](bounded_queue<int>& q) {
      while (q.push(7)) {
      }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < 2.0);
  bounded_queue<int> q(2);
  std::thread consumer([&] { CHECK_FALSE(q.pop().has_value()); });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  q.abort();
  consumer.join();
  CHECK_FALSE(q.push(1));
  CHECK(q.aborted());
}
