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

namespace skyssl::train {

archive_source::archive_source(const skyssl::config& cfg, std::uint64_t seed,
                               std::int64_t global_batch, int rank, int world,
                               dist::communicator* comm)
    : seed_(seed), global_batch_(global_batch), rank_(rank), world_(world), comm_(comm) {
  kernels::ensure_initialized();
  auto d = data::parse_data_options(cfg, "data");
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
  const auto cache = data::cache_options_from(cfg, "data");
  if (cache.mode == "memory") {
    if (!comm_ || comm_->world() != world || comm_->rank() != rank)
      throw error("archive_source: data.cache = \"memory\" needs the communicator of the run");
    cache_ = std::make_unique<data::memory_cache>(a, cache, rank, world, comm_->ranks_on_node(),
                                                  read_opts_.nonfinite);
  }
}

archive_source::~archive_source() = default;

std::int64_t archive_source::steps_per_epoch() const { return reader_->steps_per_epoch(); }
std::int64_t archive_source::skipped_samples() const {
  return static_cast<std::int64_t>(reader_->skipped().size());
}
int archive_source::channels() const { return reader_->source().channels(); }
void archive_source::start(std::int64_t epoch, std::int64_t step) {
  if (!cache_) {
    reader_->start(epoch, step);
    return;
  }
  if (epoch < 0 || step < 0 || step >= reader_->steps_per_epoch())
    throw data_error(
        fmt::format("archive_source::start: (epoch {}, step {}) is outside an epoch "
                    "of {} steps",
                    epoch, step, reader_->steps_per_epoch()));
  std::lock_guard<std::mutex> lk(mu_);
  expect_epoch_ = epoch;
  expect_step_ = step;
}

namespace {
using clock_type = std::chrono::steady_clock;
double since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}
}  // namespace

void archive_source::set_key_views(moco::shuffle_mode mode, std::uint64_t shuffle_seed) {
  key_views_ = mode;
  shuffle_seed_ = shuffle_seed;
}

void archive_source::set_device(const torch::Device& device) {
  if (device == copy_->device()) return;
  staging_.reset();
  copy_ = std::make_unique<device_copy>(device);
  if (copy_->active())
    staging_ = std::make_unique<staging_pool>(4, [this] { return copy_->mark_step(); });
}

data::sample_batch archive_source::on_device(const data::sample_batch& s,
                                             std::shared_ptr<void>* hold) {
  if (!copy_->active()) return s;
  std::vector<torch::Tensor> host = {s.images, s.ids, s.ebv, s.psf_fwhm};
  if (hold) {
    // Stage in a pinned slot (the reader's own buffers are pageable): the upload is then an
    // asynchronous copy on the side stream while the current step computes.
    auto slot = staging_->acquire();
    bool fits = slot->size() == host.size();
    for (std::size_t k = 0; fits && k < host.size(); ++k)
      fits = (*slot)[k].sizes() == host[k].sizes() && (*slot)[k].dtype() == host[k].dtype();
    if (!fits) {
      slot->clear();
      for (const auto& h : host) slot->push_back(copy_->host_buffer(h.sizes(), h.scalar_type()));
    }
    for (std::size_t k = 0; k < host.size(); ++k) (*slot)[k].copy_(host[k]);
    host = *slot;
    *hold = slot;
  }
  auto f = copy_->upload(host);
  copy_->ready(f);  // this thread's current stream (the kernels' and the step's) waits for it
  data::sample_batch d = s;
  d.images = f.tensors[0];
  d.ids = f.tensors[1];
  d.ebv = f.tensors[2];
  d.psf_fwhm = f.tensors[3];
  return d;
}

namespace {
// augment.threads' pool when there is one (host tensors only use it).
kernels::two_views augment_new(const kernels::augment_config& a, const data::sample_batch& s,
                               std::uint64_t seed, kernels::augment_threads* threads) {
  return threads ? kernels::augment_two_views(a, s.images, s.ids, s.ebv, s.psf_fwhm, seed, s.epoch,
                                              *threads)
                 : kernels::augment_two_views(a, s.images, s.ids, s.ebv, s.psf_fwhm, seed, s.epoch);
}
}  // namespace

view_batch archive_source::next() {
  auto t0 = clock_type::now();
  data::sample_batch s;
  std::vector<std::int64_t> ids;
  torch::Tensor rows;
  if (cache_) {
    exchanged e;
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [&] { return closed_ || !mailbox_.empty(); });
      if (mailbox_.empty())
        throw error("input pipeline: the data.cache exchange stopped (an earlier error)");
      e = std::move(mailbox_.front());
      mailbox_.pop_front();
      if (e.epoch != expect_epoch_ || e.step != expect_step_)
        throw error(
            fmt::format("input pipeline: data.cache exchanged epoch {} step {} but the "
                        "pipeline wants epoch {} step {}",
                        e.epoch, e.step, expect_epoch_, expect_step_));
      if (++expect_step_ == reader_->steps_per_epoch()) {
        expect_step_ = 0;
        ++expect_epoch_;
      }
    }
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
  const data::sample_batch d = on_device(s, &b.hold);
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
  fetch_fn fetch;
  if (cache_) {
    // The exchange brought the missing key samples after this rank's own, in key_views' order.
    const std::int64_t B = s.ids.size(0);
    fetch = [&, B](const std::vector<std::int64_t>& missing) {
      if (static_cast<std::int64_t>(ids.size()) != B + static_cast<std::int64_t>(missing.size()))
        throw error("input pipeline: data.cache exchanged a different set of key samples");
      return cache_->unpack(rows.data_ptr<float>() + B * cache_->row_floats(), missing, s.epoch,
                            s.step);
    };
  } else {
    fetch = [&](const std::vector<std::int64_t>& missing) {
      return data::read_rows(reader_->source(), missing, s.epoch, s.step, read_opts_);
    };
  }
  b.view2 = key_views(s, v.view2, fetch, &b.read_s, &b.augment_s);
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
  if (!cache_) return;
  try {
    torch::Tensor perm;
    if (key_views_ == moco::shuffle_mode::local)
      perm = moco::shuffle_permutation(shuffle_seed_, epoch, step, global_batch_);
    // What every rank needs is a pure function of the plan: each rank packs, for each peer,
    // the rows of its share that the peer needs; no request round.
    std::vector<std::int64_t> send_rows(static_cast<std::size_t>(world_)),
        recv_rows(static_cast<std::size_t>(world_));
    std::vector<std::vector<std::int64_t>> to(static_cast<std::size_t>(world_));
    std::vector<std::int64_t> mine;
    for (int q = 0; q < world_; ++q) {
      auto need = needed_ids(epoch, step, q, perm);
      for (auto id : need)
        if (cache_->owner(id) == rank_) to[static_cast<std::size_t>(q)].push_back(id);
      send_rows[static_cast<std::size_t>(q)] =
          static_cast<std::int64_t>(to[static_cast<std::size_t>(q)].size());
      if (q == rank_) mine = std::move(need);
    }
    for (auto id : mine) ++recv_rows[static_cast<std::size_t>(cache_->owner(id))];
    std::int64_t total = 0;
    for (auto n : send_rows) total += n;
    auto send = torch::empty({total, cache_->row_floats()}, torch::kFloat32);
    std::int64_t off = 0;
    for (int q = 0; q < world_; ++q) {
      cache_->pack(to[static_cast<std::size_t>(q)], send.data_ptr<float>() + off * send.size(1));
      off += send_rows[static_cast<std::size_t>(q)];
    }
    auto recv = comm_->all_to_all(send, send_rows, recv_rows);
    // recv holds, owner by owner, this rank's needed rows in `mine` order: put them back in it.
    std::vector<std::int64_t> cursor(static_cast<std::size_t>(world_));
    for (int p = 1; p < world_; ++p)
      cursor[static_cast<std::size_t>(p)] =
          cursor[static_cast<std::size_t>(p - 1)] + recv_rows[static_cast<std::size_t>(p - 1)];
    auto index = torch::empty({static_cast<std::int64_t>(mine.size())}, torch::kInt64);
    auto* ix = index.data_ptr<std::int64_t>();
    for (std::size_t k = 0; k < mine.size(); ++k)
      ix[k] = cursor[static_cast<std::size_t>(cache_->owner(mine[k]))]++;
    exchanged e;
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

torch::Tensor archive_source::key_views(const data::sample_batch& own, const torch::Tensor& view2,
                                        const fetch_fn& fetch, double* read_s, double* augment_s) {
  const std::int64_t B = own.ids.size(0);
  const auto pos = moco::key_positions(shuffle_seed_, own.epoch, own.step, B, rank_, world_);
  const auto g = reader_->global_batch_ids(own.epoch, own.step);
  // Positions [rank*B, (rank+1)*B) are this rank's own samples: their view 2 is at hand (a
  // view depends only on seed, epoch, id and pixels, not on the batch it was computed in).
  std::vector<std::int64_t> missing_ids;
  std::vector<std::size_t> missing_rows;
  auto out = torch::empty_like(view2);
  const std::int64_t first = rank_ * B;
  for (std::size_t j = 0; j < pos.size(); ++j) {
    const std::int64_t p = pos[j];
    if (p >= first && p < first + B) {
      out[static_cast<std::int64_t>(j)].copy_(view2[p - first]);
    } else {
      missing_ids.push_back(g[static_cast<std::size_t>(p)]);
      missing_rows.push_back(j);
    }
  }
  if (missing_ids.empty()) return out;
  auto t0 = clock_type::now();
  // On the device path these few key samples are copied unstaged (a synchronous upload).
  const auto extra = on_device(fetch(missing_ids), nullptr);
  *read_s += since(t0);
  t0 = clock_type::now();
  // Both views are computed (the kernel makes them together); view 1 of these is not used.
  auto for_epoch = extra;
  for_epoch.epoch = own.epoch;
  const auto v = augment_new(augment_, for_epoch, seed_, threads_.get());
  for (std::size_t k = 0; k < missing_rows.size(); ++k)
    out[static_cast<std::int64_t>(missing_rows[k])].copy_(v.view2[static_cast<std::int64_t>(k)]);
  *augment_s += since(t0);
  return out;
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
