#include "skyssl/train/cache_exchange.hpp"

#include <fmt/format.h>
#include <torch/types.h>

#include "skyssl/core/error.hpp"
#include "skyssl/data/epoch_plan.hpp"
#include "skyssl/data/memory_cache.hpp"
#include "skyssl/dist/communicator.hpp"

namespace skyssl::train {

cache_exchange::cache_exchange(data::memory_cache& cache, dist::communicator& comm,
                               std::int64_t steps_per_epoch)
    : cache_(cache), comm_(comm), steps_per_epoch_(steps_per_epoch) {}

void cache_exchange::exchange(std::int64_t epoch, std::int64_t step, const needed_fn& needed) {
  const int world = comm_.world(), rank = comm_.rank();
  try {
    std::vector<std::int64_t> send_rows(static_cast<std::size_t>(world)),
        recv_rows(static_cast<std::size_t>(world));
    std::vector<std::vector<std::int64_t>> to(static_cast<std::size_t>(world));
    std::vector<std::int64_t> mine;
    for (int q = 0; q < world; ++q) {
      auto need = needed(q);
      for (auto id : need)
        if (cache_.owner(id) == rank) to[static_cast<std::size_t>(q)].push_back(id);
      send_rows[static_cast<std::size_t>(q)] =
          static_cast<std::int64_t>(to[static_cast<std::size_t>(q)].size());
      if (q == rank) mine = std::move(need);
    }
    for (auto id : mine) ++recv_rows[static_cast<std::size_t>(cache_.owner(id))];
    std::int64_t total = 0;
    for (auto n : send_rows) total += n;
    auto send = torch::empty({total, cache_.row_floats()}, torch::kFloat32);
    std::int64_t off = 0;
    for (int q = 0; q < world; ++q) {
      cache_.pack(to[static_cast<std::size_t>(q)], send.data_ptr<float>() + off * send.size(1));
      off += send_rows[static_cast<std::size_t>(q)];
    }
    auto recv = comm_.all_to_all(send, send_rows, recv_rows);
    // recv holds, owner by owner, this rank's needed rows in `mine` order: put them back in it.
    std::vector<std::int64_t> cursor(static_cast<std::size_t>(world));
    for (int p = 1; p < world; ++p)
      cursor[static_cast<std::size_t>(p)] =
          cursor[static_cast<std::size_t>(p - 1)] + recv_rows[static_cast<std::size_t>(p - 1)];
    auto index = torch::empty({static_cast<std::int64_t>(mine.size())}, torch::kInt64);
    auto* ix = index.data_ptr<std::int64_t>();
    for (std::size_t k = 0; k < mine.size(); ++k)
      ix[k] = cursor[static_cast<std::size_t>(cache_.owner(mine[k]))]++;
    batch_rows e;
    e.epoch = epoch;
    e.step = step;
    e.ids = std::move(mine);
    e.rows = recv.index_select(0, index);
    {
      std::lock_guard<std::mutex> lk(mu_);
      mailbox_.push_back(std::move(e));
    }
    cv_.notify_all();
  } catch (...) {
    {
      std::lock_guard<std::mutex> lk(mu_);
      closed_ = true;
    }
    cv_.notify_all();
    throw;
  }
}

void cache_exchange::expect(std::int64_t epoch, std::int64_t step) {
  data::check_start("archive_source::start", epoch, step, steps_per_epoch_);
  std::lock_guard<std::mutex> lk(mu_);
  expect_epoch_ = epoch;
  expect_step_ = step;
}

cache_exchange::batch_rows cache_exchange::take() {
  std::unique_lock<std::mutex> lk(mu_);
  cv_.wait(lk, [&] { return closed_ || !mailbox_.empty(); });
  if (mailbox_.empty())
    throw error("input pipeline: the data.cache exchange stopped (an earlier error)");
  batch_rows e = std::move(mailbox_.front());
  mailbox_.pop_front();
  if (e.epoch != expect_epoch_ || e.step != expect_step_)
    throw error(
        fmt::format("input pipeline: data.cache exchanged epoch {} step {} but the "
                    "pipeline wants epoch {} step {}",
                    e.epoch, e.step, expect_epoch_, expect_step_));
  if (++expect_step_ == steps_per_epoch_) {
    expect_step_ = 0;
    ++expect_epoch_;
  }
  return e;
}

}  // namespace skyssl::train
