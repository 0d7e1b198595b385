#include "skyssl/data/shard_reader.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "skyssl/core/error.hpp"
#include "skyssl/core/huge_pages.hpp"
#include "skyssl/data/epoch_plan.hpp"

namespace skyssl::data {

shard_reader::shard_reader(const archive_options& archive_opts, const reader_options& reader,
                           std::uint64_t seed, std::int64_t global_batch, int rank, int world)
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
  archive_ = std::make_unique<archive>(archive_opts);
  steps_ = archive_->size() / global_batch;
  if (steps_ < 1)
    throw data_error(fmt::format("archive '{}' holds {} samples, fewer than one global batch of {}",
                                 archive_->files().front().path, archive_->size(), global_batch));
  ebv_name_ = archive_->field_dataset("ebv");
  for (const auto& b : archive_->bands())
    psf_names_.push_back(archive_->field_dataset("psfsize_" + b));
}

shard_reader::~shard_reader() { stop(); }

void shard_reader::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard<std::mutex> lock(mu_);
  queue_.clear();
  stop_ = false;
}

void shard_reader::start(std::int64_t epoch, std::int64_t step) {
  if (epoch < 0 || step < 0 || step >= steps_)
    throw data_error(
        fmt::format("shard_reader::start: (epoch {}, step {}) is outside an epoch of "
                    "{} steps",
                    epoch, step, steps_));
  stop();
  started_ = true;
  thread_ = std::thread([this, epoch, step] { run(epoch, step); });
}

void shard_reader::run(std::int64_t epoch, std::int64_t step) {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || static_cast<int>(queue_.size()) < opts_.prefetch; });
      if (stop_) return;
    }
    item it;
    try {
      it.batch = read_batch(epoch, step);
    } catch (...) {
      it.error = std::current_exception();
    }
    const bool failed = static_cast<bool>(it.error);
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(std::move(it));
    }
    cv_.notify_all();
    if (failed) return;  // the error stays queued and is rethrown by next()
    if (++step == steps_) {
      step = 0;
      ++epoch;
    }
  }
}

sample_batch shard_reader::next() {
  if (!started_) start(0, 0);
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return !queue_.empty(); });
  if (queue_.front().error) std::rethrow_exception(queue_.front().error);  // stays: sticky
  sample_batch b = std::move(queue_.front().batch);
  queue_.pop_front();
  lock.unlock();
  cv_.notify_all();
  return b;
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
  const epoch_plan plan(seed_, epoch, archive_->size(), global_batch_);
  const auto ids = plan.rank_ids(step, rank_, world_);
  const auto B = static_cast<std::int64_t>(ids.size());
  const int C = archive_->channels();
  const std::int64_t pix = static_cast<std::int64_t>(C) * archive_->height() * archive_->width();

  // Read in sorted order (runs of neighbouring ids coalesce), then place rows in plan order.
  std::vector<std::int64_t> order(ids.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](auto a, auto b) { return ids[a] < ids[b]; });
  std::vector<std::int64_t> sorted(ids.size());
  for (std::size_t k = 0; k < order.size(); ++k)
    sorted[k] = ids[static_cast<std::size_t>(order[k])];

  sample_batch out;
  out.epoch = epoch;
  out.step = step;
  out.ids = torch::empty({B}, torch::kInt64);
  std::memcpy(out.ids.data_ptr<std::int64_t>(), ids.data(), ids.size() * sizeof(std::int64_t));
  out.images = image_buffer(B);
  out.ebv = torch::zeros({B}, torch::kFloat32);
  out.psf_fwhm = torch::full({B, C}, std::numeric_limits<float>::quiet_NaN(), torch::kFloat32);

  auto& staging = staging_;
  staging.resize(static_cast<std::size_t>(B * pix));
  archive_->read_images_rows(sorted, staging.data());
  float* img = out.images.data_ptr<float>();
  for (std::int64_t k = 0; k < B; ++k) {
    const float* src = staging.data() + k * pix;
    if (opts_.check_finite) {
      for (std::int64_t p = 0; p < pix; ++p) {
        if (!std::isfinite(src[p])) {
          const std::int64_t id = sorted[static_cast<std::size_t>(k)];
          const auto& f = archive_->files()[static_cast<std::size_t>(archive_->file_of(id))];
          const std::int64_t plane = archive_->height() * archive_->width();
          throw data_error(fmt::format(
              "archive file '{}', dataset 'images': sample {} (global id {}) has a {} pixel "
              "(band {}, y {}, x {})",
              f.path, id - f.first_row, id, std::isnan(src[p]) ? "NaN" : "Inf",
              archive_->bands()[static_cast<std::size_t>(p / plane)],
              (p % plane) / archive_->width(), p % archive_->width()));
        }
      }
    }
    std::memcpy(img + order[static_cast<std::size_t>(k)] * pix, src,
                static_cast<std::size_t>(pix) * sizeof(float));
  }
  std::vector<double> col(ids.size());
  if (!ebv_name_.empty()) {
    archive_->read_column_rows(ebv_name_, sorted, col.data());
    float* e = out.ebv.data_ptr<float>();
    for (std::size_t k = 0; k < order.size(); ++k) e[order[k]] = static_cast<float>(col[k]);
  }
  float* psf = out.psf_fwhm.data_ptr<float>();
  for (int c = 0; c < C; ++c) {
    if (psf_names_[static_cast<std::size_t>(c)].empty()) continue;
    archive_->read_column_rows(psf_names_[static_cast<std::size_t>(c)], sorted, col.data());
    for (std::size_t k = 0; k < order.size(); ++k)
      psf[order[k] * C + c] = static_cast<float>(col[k]);
  }
  return out;
}

}  // namespace skyssl::data
