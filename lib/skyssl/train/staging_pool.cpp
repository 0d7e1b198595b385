#include "skyssl/train/staging_pool.hpp"

#include <limits>
#include <mutex>
#include <stdexcept>
#include <string>

namespace skyssl::train {

struct staging_pool::state {
  struct slot {
    std::vector<torch::Tensor> tensors;
    bool held = false;
    std::unique_ptr<completion> after;  // set on release, cleared once seen done
    std::uint64_t released_at = 0;
  };
  marker mark;
  mutable std::mutex mu;
  std::vector<slot> slots;
  std::uint64_t releases = 0;
  std::int64_t waits = 0;
};

staging_pool::staging_pool(int slots, marker mark) : st_(std::make_shared<state>()) {
  if (slots < 1) throw std::invalid_argument("staging_pool: slots must be >= 1");
  if (!mark) throw std::invalid_argument("staging_pool: a completion marker is required");
  st_->mark = std::move(mark);
  st_->slots.resize(static_cast<std::size_t>(slots));
}

staging_pool::~staging_pool() = default;

staging_pool::handle staging_pool::acquire() {
  auto st = st_;
  std::unique_lock<std::mutex> lk(st->mu);
  for (;;) {
    state::slot* oldest = nullptr;
    for (std::size_t k = 0; k < st->slots.size(); ++k) {
      auto& s = st->slots[k];
      if (s.held) continue;
      if (s.after && !s.after->done()) {
        if (!oldest || s.released_at < oldest->released_at) oldest = &s;
        continue;
      }
      s.after.reset();
      s.held = true;
      // The deleter gives the slot back (the tensors stay with the pool) and records the
      // marker on the releasing thread's stream. It keeps the pool's state alive.
      return handle(&s.tensors, [st, k](std::vector<torch::Tensor>*) {
        auto m = st->mark();
        std::lock_guard<std::mutex> g(st->mu);
        auto& r = st->slots[k];
        r.after = std::move(m);
        r.released_at = ++st->releases;
        r.held = false;
      });
    }
    if (!oldest) return std::make_shared<std::vector<torch::Tensor>>();  // all held: untracked
    // Every free slot waits for its step: wait for the earliest (unlocked: the training thread
    // releases others meanwhile), then look again.
    ++st->waits;
    const completion* c = oldest->after.get();
    // The slot is not held, so only this thread (the one producer) clears `after`: c stays valid.
    lk.unlock();
    c->wait();
    lk.lock();
  }
}

int staging_pool::slots() const { return static_cast<int>(st_->slots.size()); }

int staging_pool::held() const {
  std::lock_guard<std::mutex> g(st_->mu);
  int n = 0;
  for (const auto& s : st_->slots) n += s.held ? 1 : 0;
  return n;
}

int staging_pool::pending() const {
  std::lock_guard<std::mutex> g(st_->mu);
  int n = 0;
  for (const auto& s : st_->slots) n += (!s.held && s.after && !s.after->done()) ? 1 : 0;
  return n;
}

std::int64_t staging_pool::waits() const {
  std::lock_guard<std::mutex> g(st_->mu);
  return st_->waits;
}

}  // namespace skyssl::train
