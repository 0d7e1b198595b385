#pragma once
// The MoCo negative queue: K x dim L2-normalised keys and a write pointer. Identical on every
// rank: the initial contents are a pure function of the seed (Philox, purpose queue_init), and
// every rank enqueues the same all-gathered global batch.
#include <torch/types.h>

#include <cstdint>

namespace skyssl::moco {

class key_queue {
 public:
  key_queue() = default;
  key_queue(std::int64_t K, std::int64_t dim, std::uint64_t seed);
  // The keys (K, dim); a snapshot for the loss is `keys().clone()` or simply the tensor before
  // enqueue() is called (enqueue writes in place).
  const torch::Tensor& keys() const { return keys_; }
  torch::Tensor& keys() { return keys_; }
  std::int64_t ptr() const { return ptr_; }
  void set_ptr(std::int64_t p) { ptr_ = p; }
  std::int64_t size() const { return keys_.defined() ? keys_.size(0) : 0; }
  // Writes `batch` (B, dim) at ptr; ptr = (ptr + B) % K. B must divide K.
  void enqueue(const torch::Tensor& batch);

 private:
  torch::Tensor keys_;
  std::int64_t ptr_ = 0;
};

// (K, dim) standard normals from Philox keyed (seed, purpose queue_init), rows L2-normalised.
torch::Tensor initial_queue(std::int64_t K, std::int64_t dim, std::uint64_t seed);

}  // namespace skyssl::moco
