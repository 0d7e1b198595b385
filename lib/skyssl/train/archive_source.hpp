#pragma once
// The real input: this rank's slice of each global batch read by lib/data's shard_reader
// (config section [data]) and augmented into two views by kernels/ (section [augment]).
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>

#include "kernels/augment_config.hpp"
#include "kernels/augment_threads.hpp"
#include "kernels/view_pool.hpp"
#include "skyssl/data/read_rows.hpp"
#include "skyssl/train/device_copy.hpp"
#include "skyssl/train/pipeline.hpp"
#include "skyssl/train/staging_pool.hpp"

namespace skyssl {
class config;
}
namespace skyssl::data {
class shard_reader;
class memory_cache;
struct sample_batch;
}  // namespace skyssl::data
namespace skyssl::dist {
class communicator;
}

namespace skyssl::train {

// Views for the evaluation hook: centre crops and two augmented views of the same galaxies.
struct eval_views {
  torch::Tensor ids, center, view1, view2;
};

class archive_source final : public view_source {
 public:
  // With data.cache = "memory" the rows come from the ranks' memory (data/memory_cache.hpp):
  // `comm` (required then) exchanges them, and this constructor reads this rank's share.
  // `comm` also shares data.nonfinite = "skip"'s start-up scan between the ranks (without it
  // every rank scans the whole archive).
  archive_source(const skyssl::config& cfg, std::uint64_t seed, std::int64_t global_batch, int rank,
                 int world, dist::communicator* comm = nullptr);
  // data.nonfinite = "skip": samples left out of every epoch.
  std::int64_t skipped_samples() const;
  ~archive_source() override;
  std::int64_t steps_per_epoch() const override;
  int channels() const override;
  void start(std::int64_t epoch, std::int64_t step) override;
  view_batch next() override;
  // local: next() also reads and augments the samples of this rank's slice of the permuted
  // global batch that are not in its own slice, and hands their view 2 out as view2.
  void set_key_views(moco::shuffle_mode mode, std::uint64_t shuffle_seed) override;
  // A CUDA device turns on the copy stage: each batch read is staged in a pinned slot
  // (staging_pool), uploaded on device_copy's side stream, and augmented on the device into
  // pooled device views; the CPU (the default) keeps the host path, where the copy stage is
  // the identity.
  void set_device(const torch::Device& device) override;
  // Whether batches go through the copy stage (false on the CPU).
  bool copies_to_device() const { return copy_->active(); }
  const staging_pool* staging() const { return staging_.get(); }
  bool exchanges_on_main_thread() const override { return cache_ != nullptr; }
  // data.cache = memory: the all-to-all that brings this rank the rows of batch (epoch, step)
  // (its slice, and under shuffle_bn = local the key samples it lacks) from their owners.
  void main_thread_exchange(std::int64_t epoch, std::int64_t step) override;
  // This rank's share of `steps` global batches of epoch `epoch` (not used by training).
  eval_views eval(std::int64_t epoch, std::int64_t steps);
  const kernels::augment_config& augment() const { return augment_; }

 private:
  std::unique_ptr<data::shard_reader> reader_;
  kernels::augment_config augment_;
  std::uint64_t seed_;
  std::int64_t global_batch_;
  int rank_, world_;
  data::read_rows_options read_opts_;
  moco::shuffle_mode key_views_ = moco::shuffle_mode::gather;
  std::uint64_t shuffle_seed_ = 0;
  // The ids, in order, of the samples rank `r` needs for batch (epoch, step): its slice, then
  // under shuffle_bn = local the key samples outside it (key_views' order).
  std::vector<std::int64_t> needed_ids(std::int64_t epoch, std::int64_t step, int r,
                                       const torch::Tensor& perm) const;
  using fetch_fn = std::function<data::sample_batch(const std::vector<std::int64_t>& ids)>;
  // The copy stage: the batch's tensors on the training device (the CPU: `s` itself). With
  // `slot` the host side goes through a pinned staging slot, held by *hold until the step is
  // done; without, the copy is from the tensors as they are.
  data::sample_batch on_device(const data::sample_batch& s, std::shared_ptr<void>* hold);
  torch::Tensor key_views(const data::sample_batch& own, const torch::Tensor& own_view2,
                          const fetch_fn& fetch, double* read_s, double* augment_s);

  // data.cache = memory
  dist::communicator* comm_ = nullptr;
  std::unique_ptr<data::memory_cache> cache_;
  struct exchanged {
    std::int64_t epoch = 0, step = 0;
    std::vector<std::int64_t> ids;  // needed_ids(epoch, step, rank)
    torch::Tensor rows;             // ids.size() x row_floats, in ids order
  };
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<exchanged> mailbox_;
  bool closed_ = false;
  std::int64_t expect_epoch_ = 0, expect_step_ = 0;
  // Four pairs: the batch being trained on, two queued (train.prefetch allows 1-8; past the
  // default of 2 the pool hands out untracked pairs) and the one being built.
  kernels::view_pool outputs_{4};
  // augment.threads > 1: the host threads that augment sub-batches (persistent).
  std::unique_ptr<kernels::augment_threads> threads_;
  // The copy stage: the identity (CPU) until set_device names a CUDA device.
  std::unique_ptr<device_copy> copy_ = std::make_unique<device_copy>(torch::kCPU);
  std::unique_ptr<staging_pool> staging_;  // device path only: as many slots as outputs_
};

}  // namespace skyssl::train
