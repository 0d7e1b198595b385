#pragma once
// moco.shuffle_bn = "local": each rank encodes the keys of its positions of the permuted global
// batch (moco::key_positions), so it needs view 2 of samples other ranks read. Its own samples'
// view 2 is at hand (a view depends only on seed, epoch, id and pixels, not on the batch it was
// computed in); the others are fetched and augmented here.
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "skyssl/data/sample_batch.hpp"

namespace skyssl::train {

struct local_key_inputs {
  const data::sample_batch& own;                // this rank's slice of the batch (B samples)
  const torch::Tensor& own_view2;               // their view 2, B x C x h x w
  const std::vector<std::int64_t>& global_ids;  // the whole global batch's ids, in order
  std::uint64_t shuffle_seed = 0;
  int rank = 0, world = 1;
};

// Rows (ids) of other ranks' samples, on the training device.
using fetch_samples = std::function<data::sample_batch(const std::vector<std::int64_t>& ids)>;
// View 2 of a fetched batch (its epoch set to the batch's).
using augment_view2 = std::function<torch::Tensor(const data::sample_batch&)>;

// View 2 of the samples at this rank's key positions, in position order. Adds the time spent
// fetching to *read_s and augmenting to *augment_s.
torch::Tensor local_key_views(const local_key_inputs& in, const fetch_samples& fetch,
                              const augment_view2& augment, double* read_s, double* augment_s);

}  // namespace skyssl::train
