#pragma once
// Recycled output tensors for augment_two_views_into(). A fresh (N, C, h, w) pair per batch
// costs page faults on every batch (large allocations come straight from mmap), which on some
// machines takes longer than the augmentation itself. A pair is handed out again once nothing
// outside the pool shares its storage (the consumer dropped the batch), so a steady pipeline
// allocates nothing. Not thread-safe: one pool per producer thread.
#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "kernels/augment.hpp"

namespace skyssl::kernels {

// A new pair of (n, c, h, w) float32 tensors on `options`' device, contents undefined; host
// memory asks for huge pages (fewer first-touch faults and TLB misses).
two_views new_views(std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w,
                    const torch::TensorOptions& options);

class view_pool {
 public:
  // Keeps at most `max_pairs` pairs; when all are in use a new, untracked pair is returned, so
  // memory stays bounded whatever the consumer holds on to.
  explicit view_pool(int max_pairs = 4);

  // A pair of (n, c, h, w) float32 tensors with `options`' device, contents undefined.
  two_views acquire(std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w,
                    const torch::TensorOptions& options);

  int size() const { return static_cast<int>(pairs_.size()); }

 private:
  int max_pairs_;
  std::vector<two_views> pairs_;
};

}  // namespace skyssl::kernels
