#pragma once
// The real input: this rank's slice of each global batch read by lib/data's shard_reader
// (config section [data]) and augmented into two views by kernels/ (section [augment]).
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "kernels/augment_config.hpp"
#include "kernels/view_pool.hpp"
#include "skyssl/train/pipeline.hpp"

namespace skyssl {
class config;
}
namespace skyssl::data {
class shard_reader;
}

namespace skyssl::train {

// Views for the evaluation hook: centre crops and two augmented views of the same galaxies.
struct eval_views {
  torch::Tensor ids, center, view1, view2;
};

class archive_source final : public view_source {
 public:
  // `exchange` shares data.nonfinite = "skip"'s start-up scan between the ranks (a collective;
  // see data::shard_reader); without it every rank scans the whole archive.
  archive_source(const skyssl::config& cfg, std::uint64_t seed, std::int64_t global_batch, int rank,
                 int world,
                 const std::function<std::vector<std::int64_t>(const std::vector<std::int64_t>&)>&
                     exchange = {});
  // data.nonfinite = "skip": samples left out of every epoch.
  std::int64_t skipped_samples() const;
  ~archive_source() override;
  std::int64_t steps_per_epoch() const override;
  int channels() const override;
  void start(std::int64_t epoch, std::int64_t step) override;
  view_batch next() override;
  // This rank's share of `steps` global batches of epoch `epoch` (not used by training).
  eval_views eval(std::int64_t epoch, std::int64_t steps);
  const kernels::augment_config& augment() const { return augment_; }

 private:
  std::unique_ptr<data::shard_reader> reader_;
  kernels::augment_config augment_;
  std::uint64_t seed_;
  // The batch being trained on, up to train.prefetch (<= 2) queued and the one being built.
  kernels::view_pool outputs_{4};
};

}  // namespace skyssl::train
