#include "skyssl/data/shard_reader.hpp"

#include "skyssl/data/read_rows.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>
#include <limits>
#include <numeric>

#include "skyssl/core/error.hpp"
#include "skyssl/core/huge_pages.hpp"
#include "skyssl/core/log.hpp"
#include "skyssl/data/epoch_plan.hpp"

namespace skyssl::data {

shard_reader::shard_reader(const archive_options& archive_opts, const reader_options& reader,
                           std::uint64_t seed, std::int64_t global_batch, int rank, int world,
                           const row_exchange& exchange)
    : opts_(reader), seed_(seed), global_batch_(global_batch), rank_(rank), world_(world) {
  if (world < 1 || rank < 0 || rank >= world)
    throw data_error(fmt::format("shard_reader: rank {} of world {} is invalid", rank, world));
  if (global_batch < 1 || global_batch % world != 0)
    throw data_error(fmt::format(
        "global batch {} is not divisible by the number of ranks {} (each rank must get the "
        "same share)",
        global_batch, world));
  if (opts_.prefetch < 1)
    throw data_error(fmt::format("data.prefetch must be >= 1, got {}", opts_.prefetch));
  if (opts_.read_threads < 1)
    throw data_error(fmt::format("data.read_threads must be >= 1, got {}", opts_.read_threads));
  archive_ = std::make_unique<archive>(archive_opts);
  std::vector<std::int64_t> skip;
  if (opts_.nonfinite == nonfinite_policy::skip) {
    skip = find_nonfinite_rows(*archive_, rank, world, exchange, opts_.read_threads);
    log::info("data.nonfinite = \"skip\": {} of {} samples hold NaN/Inf pixels and are left out{}",
              skip.size(), archive_->size(),
              skip.empty() ? "" : fmt::format(" (first: global id {})", skip.front()));
  }
  kept_ = kept_rows(archive_->size(), std::move(skip));
  steps_ = kept_.kept() / global_batch;
  if (steps_ < 1)
    throw data_error(fmt::format("archive '{}' holds {} samples, fewer than one global batch of {}",
                                 archive_->files().front().path, kept_.kept(), global_batch));
  fields_ = std::make_unique<field_cache>(*archive_, batch_field_names(*archive_));
  threads_ = std::make_unique<thread_pool>(opts_.read_threads);
}

shard_reader::~shard_reader() { stop(); }

void shard_reader::stop() { producer_.reset(); }

void shard_reader::start(std::int64_t epoch, std::int64_t step) {
  check_start("shard_reader::start", epoch, step, steps_);
  stop();
  producer_ = std::make_unique<background_producer<sample_batch>>(
      static_cast<std::size_t>(opts_.prefetch),
      [this, epoch, step](bounded_queue<sample_batch>& q) mutable {
        while (q.push(read_batch(epoch, step))) {
          if (++step == steps_) {
            step = 0;
            ++epoch;
          }
        }
      });
}

sample_batch shard_reader::next() {
  if (!producer_) start(0, 0);
  auto b = producer_->queue().pop();  // rethrows the prefetch thread's error (sticky)
  if (!b) throw data_error("shard_reader: the prefetch thread stopped");
  return std::move(*b);
}

std::vector<std::int64_t> shard_reader::rank_ids(std::int64_t epoch, std::int64_t step) const {
  const epoch_plan plan(seed_, epoch, kept_.kept(), global_batch_);
  auto ids = plan.rank_ids(step, rank_, world_);
  if (!kept_.excluded().empty())
    for (auto& id : ids) id = kept_.id(id);
  return ids;
}

std::vector<std::int64_t> shard_reader::global_batch_ids(std::int64_t epoch,
                                                         std::int64_t step) const {
  const epoch_plan plan(seed_, epoch, kept_.kept(), global_batch_);
  std::vector<std::int64_t> ids(static_cast<std::size_t>(global_batch_));
  for (std::int64_t j = 0; j < global_batch_; ++j) {
    const auto id = plan.at(step * global_batch_ + j);
    ids[static_cast<std::size_t>(j)] = kept_.excluded().empty() ? id : kept_.id(id);
  }
  return ids;
}

torch::Tensor shard_reader::image_buffer(std::int64_t b) const {
  for (auto& t : pool_)
    if (t.use_count() == 1 && t.storage().use_count() == 1 && t.size(0) == b) return t;
  auto t = torch::empty({b, archive_->channels(), archive_->height(), archive_->width()},
                        torch::kFloat32);
  advise_huge_pages(t.data_ptr(), static_cast<std::size_t>(t.nbytes()));  // kernels sample it
  if (static_cast<int>(pool_.size()) < opts_.prefetch + 3) pool_.push_back(t);
  return t;
}

sample_batch shard_reader::read_batch(std::int64_t epoch, std::int64_t step) const {
  const auto ids = rank_ids(epoch, step);
  return read_rows(*archive_, ids, epoch, step,
                   {opts_.nonfinite, opts_.read_threads, threads_.get(), fields_.get()},
                   image_buffer(static_cast<std::int64_t>(ids.size())));
}

}  // namespace skyssl::data
