#include "skyssl/train/archive_source.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "kernels/augment.hpp"
#include "skyssl/core/config.hpp"
#include "skyssl/core/error.hpp"
#include "skyssl/data/options.hpp"
#include "skyssl/data/shard_reader.hpp"

namespace skyssl::train {

archive_source::archive_source(
    const skyssl::config& cfg, std::uint64_t seed, std::int64_t global_batch, int rank, int world,
    const std::function<std::vector<std::int64_t>(const std::vector<std::int64_t>&)>& exchange)
    : seed_(seed) {
  kernels::ensure_initialized();
  auto d = data::parse_data_options(cfg, "data");
  augment_ = kernels::augment_config_from(cfg, "augment");
  reader_ = std::make_unique<data::shard_reader>(d.archive, d.reader, seed, global_batch, rank,
                                                 world, exchange);
  const auto& a = reader_->source();
  if (a.channels() != augment_.bands)
    throw config_error(fmt::format(
        "the archive has {} bands but the augmentation config has {} ('{}'): set augment.preset "
        "or augment.bands to match",
        a.channels(), augment_.bands, augment_.band_names));
}

archive_source::~archive_source() = default;

std::int64_t archive_source::steps_per_epoch() const { return reader_->steps_per_epoch(); }
std::int64_t archive_source::skipped_samples() const {
  return static_cast<std::int64_t>(reader_->skipped().size());
}
int archive_source::channels() const { return reader_->source().channels(); }
void archive_source::start(std::int64_t epoch, std::int64_t step) { reader_->start(epoch, step); }

view_batch archive_source::next() {
  data::sample_batch s = reader_->next();
  const auto v = outputs_.acquire(s.images.size(0), s.images.size(1), augment_.crop_h,
                                  augment_.crop_w, s.images.options());
  kernels::augment_two_views_into(augment_, s.images, s.ids, s.ebv, s.psf_fwhm, seed_, s.epoch, v);
  view_batch b;
  b.epoch = s.epoch;
  b.step = s.step;
  b.ids = s.ids;
  b.view1 = v.view1;
  b.view2 = v.view2;
  b.nonfinite_pixels = s.nonfinite_pixels;
  return b;
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
