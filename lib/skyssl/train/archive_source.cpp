#include "skyssl/train/archive_source.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <unordered_map>

#include "kernels/augment.hpp"
#include "skyssl/core/config.hpp"
#include "skyssl/core/error.hpp"
#include "skyssl/data/memory_cache.hpp"
#include "skyssl/data/options.hpp"
#include "skyssl/data/read_rows.hpp"
#include "skyssl/data/shard_reader.hpp"
#include "skyssl/dist/communicator.hpp"
#include "skyssl/dist/gather_ids.hpp"
#include "skyssl/moco/engine.hpp"
#include "skyssl/train/detail/clock.hpp"
#include "skyssl/train/local_key_views.hpp"

namespace skyssl::train {

archive_source::archive_source(const skyssl::config& cfg, std::uint64_t seed,
                               std::int64_t global_batch, int rank, int world,
                               dist::communicator* comm)
    : seed_(seed), global_batch_(global_batch), rank_(rank), world_(world), comm_(comm) {
  kernels::ensure_initialized();
  auto d = data::data_options_from(cfg, "data");
  augment_ = kernels::augment_config_from(cfg, "augment");
  if (augment_.threads > 1) threads_ = std::make_unique<kernels::augment_threads>(augment_.threads);
  read_opts_ = {d.reader.nonfinite, d.reader.read_threads};
  // data.nonfinite = "skip": the start-up scan is shared between the ranks through `comm`.
  data::row_exchange exchange;
  if (comm_ && comm_->world() > 1)
    exchange = [this](const std::vector<std::int64_t>& mine) {
      return dist::all_gather_ids(*comm_, mine);
    };
  reader_ = std::make_unique<data::shard_reader>(d.archive, d.reader, seed, global_batch, rank,
                                                 world, exchange);
  const auto& a = reader_->source();
  if (a.channels() != augment_.bands)
    throw config_error(fmt::format(
        "the archive has {} bands but the augmentation config has {} ('{}'): set augment.preset "
        "or augment.bands to match",
        a.channels(), augment_.bands, augment_.band_names));
  const auto& cache = d.cache;
  if (cache.mode == "memory") {
    if (!comm_ || comm_->world() != world || comm_->rank() != rank)
      throw error("archive_source: data.cache = \"memory\" needs the communicator of the run");
    cache_ = std::make_unique<data::memory_cache>(a, cache, rank, world, comm_->ranks_on_node(),
                                                  read_opts_.nonfinite);
    exchange_ = std::make_unique<cache_exchange>(*cache_, *comm_, reader_->steps_per_epoch());
  }
}

archive_source::~archive_source() = default;

std::int64_t archive_source::steps_per_epoch() const { return reader_->steps_per_epoch(); }
std::int64_t archive_source::skipped_samples() const {
  return static_cast<std::int64_t>(reader_->skipped().size());
}
int archive_source::channels() const { return reader_->source().channels(); }
void archive_source::start(std::int64_t epoch, std::int64_t step) {
  if (exchange_)
    exchange_->expect(epoch, step);
  else
    reader_->start(epoch, step);
}

using detail::clock_type;
using detail::since;

void archive_source::set_key_views(moco::shuffle_mode mode, std::uint64_t shuffle_seed) {
  key_views_ = mode;
  shuffle_seed_ = shuffle_seed;
}

void archive_source::set_device(const torch::Device& device) { upload_.set_device(device); }

kernels::two_views archive_source::augment_host_or_device(const data::sample_batch& s) const {
  // augment.threads' pool when there is one (host tensors only use it).
  return threads_ ? kernels::augment_two_views(augment_, s.images, s.ids, s.ebv, s.psf_fwhm, seed_,
                                               s.epoch, *threads_)
                  : kernels::augment_two_views(augment_, s.images, s.ids, s.ebv, s.psf_fwhm, seed_,
                                               s.epoch);
}

view_batch archive_source::next() {
  auto t0 = clock_type::now();
  data::sample_batch s;
  std::vector<std::int64_t> ids;
  torch::Tensor rows;
  if (exchange_) {
    auto e = exchange_->take();
    ids = std::move(e.ids);
    rows = std::move(e.rows);
    const std::int64_t B = global_batch_ / world_;
    s = cache_->unpack(rows.data_ptr<float>(), {ids.begin(), ids.begin() + B}, e.epoch, e.step);
  } else {
    s = reader_->next();
  }
  view_batch b;
  b.read_s = since(t0);
  t0 = clock_type::now();
  // The copy stage (identity on the CPU), then the augmentation where the tensors now are.
  const data::sample_batch d = upload_.to_device(s, &b.hold);
  const auto v = outputs_.acquire(d.images.size(0), d.images.size(1), augment_.crop_h,
                                  augment_.crop_w, d.images.options());
  if (threads_)
    kernels::augment_two_views_into(augment_, d.images, d.ids, d.ebv, d.psf_fwhm, seed_, d.epoch, v,
                                    *threads_);
  else
    kernels::augment_two_views_into(augment_, d.images, d.ids, d.ebv, d.psf_fwhm, seed_, d.epoch,
                                    v);
  b.augment_s = since(t0);
  b.epoch = s.epoch;
  b.step = s.step;
  b.ids = s.ids;
  b.view1 = v.view1;
  b.nonfinite_pixels = s.nonfinite_pixels;
  if (key_views_ != moco::shuffle_mode::local) {
    b.view2 = v.view2;
    return b;
  }
  fetch_samples fetch;
  if (cache_) {
    // The exchange brought the missing key samples after this rank's own, in key_views' order.
    const std::int64_t B = s.ids.size(0);
    fetch = [&, B](const std::vector<std::int64_t>& missing) {
      if (static_cast<std::int64_t>(ids.size()) != B + static_cast<std::int64_t>(missing.size()))
        throw error("input pipeline: data.cache exchanged a different set of key samples");
      // On the device path these few key samples are copied unstaged (a synchronous upload).
      return upload_.to_device(cache_->unpack(rows.data_ptr<float>() + B * cache_->row_floats(),
                                              missing, s.epoch, s.step),
                               nullptr);
    };
  } else {
    fetch = [&](const std::vector<std::int64_t>& missing) {
      return upload_.to_device(
          data::read_rows(reader_->source(), missing, s.epoch, s.step, read_opts_), nullptr);
    };
  }
  const auto global_ids = reader_->global_batch_ids(s.epoch, s.step);
  // Both views are computed (the kernel makes them together); view 1 of these is not used.
  b.view2 = local_key_views(
      {s, v.view2, global_ids, shuffle_seed_, rank_, world_}, fetch,
      [this](const data::sample_batch& x) { return augment_host_or_device(x).view2; }, &b.read_s,
      &b.augment_s);
  return b;
}

std::vector<std::int64_t> archive_source::needed_ids(std::int64_t epoch, std::int64_t step, int r,
                                                     const torch::Tensor& perm) const {
  const std::int64_t G = global_batch_, B = G / world_;
  const auto g = reader_->global_batch_ids(epoch, step);
  std::vector<std::int64_t> ids;
  ids.reserve(static_cast<std::size_t>(2 * B));
  for (std::int64_t j = 0; j < B; ++j) ids.push_back(g[static_cast<std::size_t>(r * B + j)]);
  if (perm.defined()) {
    const auto* p = perm.data_ptr<std::int64_t>() + r * B;
    for (std::int64_t j = 0; j < B; ++j)
      if (p[j] < r * B || p[j] >= (r + 1) * B) ids.push_back(g[static_cast<std::size_t>(p[j])]);
  }
  return ids;
}

void archive_source::main_thread_exchange(std::int64_t epoch, std::int64_t step) {
  if (!exchange_) return;
  torch::Tensor perm;
  if (key_views_ == moco::shuffle_mode::local)
    perm = moco::shuffle_permutation(shuffle_seed_, epoch, step, global_batch_);
  exchange_->exchange(epoch, step, [&](int r) { return needed_ids(epoch, step, r, perm); });
}

eval_views archive_source::eval(std::int64_t epoch, std::int64_t steps) {
  steps = std::min(steps, reader_->steps_per_epoch());
  std::vector<torch::Tensor> ids, c, v1, v2;
  reader_->start(epoch, 0);
  for (std::int64_t s = 0; s < steps; ++s) {
    data::sample_batch b = reader_->next();
    auto v =
        kernels::augment_two_views(augment_, b.images, b.ids, b.ebv, b.psf_fwhm, seed_, b.epoch);
    ids.push_back(b.ids);
    c.push_back(kernels::center_crop(augment_, b.images));
    v1.push_back(v.view1);
    v2.push_back(v.view2);
  }
  return {torch::cat(ids), torch::cat(c), torch::cat(v1), torch::cat(v2)};
}

}  // namespace skyssl::train
