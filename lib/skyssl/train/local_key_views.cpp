#include "skyssl/train/local_key_views.hpp"

#include <torch/types.h>

#include <chrono>

#include "skyssl/moco/engine.hpp"
#include "skyssl/train/detail/clock.hpp"

namespace skyssl::train {
using detail::clock_type;
using detail::since;

torch::Tensor local_key_views(const local_key_inputs& in, const fetch_samples& fetch,
                              const augment_view2& augment, double* read_s, double* augment_s) {
  const std::int64_t B = in.own.ids.size(0);
  const auto pos =
      moco::key_positions(in.shuffle_seed, in.own.epoch, in.own.step, B, in.rank, in.world);
  // Positions [rank*B, (rank+1)*B) are this rank's own samples.
  std::vector<std::int64_t> missing_ids;
  std::vector<std::size_t> missing_rows;
  auto out = torch::empty_like(in.own_view2);
  const std::int64_t first = in.rank * B;
  for (std::size_t j = 0; j < pos.size(); ++j) {
    const std::int64_t p = pos[j];
    if (p >= first && p < first + B) {
      out[static_cast<std::int64_t>(j)].copy_(in.own_view2[p - first]);
    } else {
      missing_ids.push_back(in.global_ids[static_cast<std::size_t>(p)]);
      missing_rows.push_back(j);
    }
  }
  if (missing_ids.empty()) return out;
  auto t0 = clock_type::now();
  auto extra = fetch(missing_ids);
  *read_s += since(t0);
  t0 = clock_type::now();
  extra.epoch = in.own.epoch;
  const auto view2 = augment(extra);
  for (std::size_t k = 0; k < missing_rows.size(); ++k)
    out[static_cast<std::int64_t>(missing_rows[k])].copy_(view2[static_cast<std::int64_t>(k)]);
  *augment_s += since(t0);
  return out;
}

}  // namespace skyssl::train
