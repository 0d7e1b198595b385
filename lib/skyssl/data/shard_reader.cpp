#include "skyssl/data/shard_reader.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>
#include <limits>
#include <numeric>
#include <thread>

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
  ebv_name_ = archive_->field_dataset("ebv");
  for (const auto& b : archive_->bands())
    psf_names_.push_back(archive_->field_dataset("psfsize_" + b));
}

shard_reader::~shard_reader() { stop(); }

void shard_reader::stop() { producer_.reset(); }

void shard_reader::start(std::int64_t epoch, std::int64_t step) {
  if (epoch < 0 || step < 0 || step >= steps_)
    throw data_error(
        fmt::format("shard_reader::start: (epoch {}, step {}) is outside an epoch of "
                    "{} steps",
                    epoch, step, steps_));
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
  const auto B = static_cast<std::int64_t>(ids.size());
  const int C = archive_->channels();
  const std::int64_t pix = static_cast<std::int64_t>(C) * archive_->height() * archive_->width();

  // Read in sorted order (neighbouring ids coalesce), each row straight into its batch slot.
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

  float* img = out.images.data_ptr<float>();
  std::vector<float*> dst(sorted.size());
  for (std::size_t k = 0; k < dst.size(); ++k) dst[k] = img + order[k] * pix;
  const bool zero = opts_.nonfinite == nonfinite_policy::zero;
  // Several reads in flight: contiguous shares of the sorted rows, one per thread.
  const int T = static_cast<int>(std::min<std::int64_t>(opts_.read_threads, B));
  std::vector<pixel_report> reports(static_cast<std::size_t>(std::max(T, 1)));
  std::vector<std::exception_ptr> errors(reports.size());
  auto part = [&](int t) {
    const std::size_t lo =
        sorted.size() * static_cast<std::size_t>(t) / static_cast<std::size_t>(T);
    const std::size_t hi =
        sorted.size() * static_cast<std::size_t>(t + 1) / static_cast<std::size_t>(T);
    try {
      reports[static_cast<std::size_t>(t)] =
          archive_->read_images_into(sorted.data() + lo, hi - lo, dst.data() + lo, zero);
    } catch (...) {
      errors[static_cast<std::size_t>(t)] = std::current_exception();
    }
  };
  std::vector<std::thread> helpers;
  for (int t = 1; t < T; ++t) helpers.emplace_back(part, t);
  part(0);
  for (auto& h : helpers) h.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
  pixel_report rep;
  for (const auto& r : reports) rep.merge(r);
  if (rep.nonfinite > 0 && !zero) {
    const std::int64_t id = rep.first_row;
    const auto k = static_cast<std::size_t>(std::lower_bound(sorted.begin(), sorted.end(), id) -
                                            sorted.begin());
    const float v = dst[k][rep.first_pixel];
    const auto& f = archive_->files()[static_cast<std::size_t>(archive_->file_of(id))];
    const std::int64_t plane = archive_->height() * archive_->width();
    const std::int64_t p = rep.first_pixel;
    throw data_error(
        fmt::format("archive file '{}', dataset 'images': sample {} (global id {}) has a {} pixel "
                    "(band {}, y {}, x {}){}",
                    f.path, id - f.first_row, id, std::isnan(v) ? "NaN" : "Inf",
                    archive_->bands()[static_cast<std::size_t>(p / plane)],
                    (p % plane) / archive_->width(), p % archive_->width(),
                    opts_.nonfinite == nonfinite_policy::skip
                        ? " although the start-up scan found none there (did the file change?)"
                        : "; --set data.nonfinite=zero or =skip trains on such archives"));
  }
  out.nonfinite_pixels = rep.nonfinite;
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
