#include "skyssl/data/epoch_plan.hpp"

#include <fmt/format.h>

#include "skyssl/core/error.hpp"
#include "skyssl/core/philox.hpp"

namespace skyssl::data {

namespace {
constexpr int rounds = 6;
}

epoch_plan::epoch_plan(std::uint64_t seed, std::int64_t epoch, std::int64_t n,
                       std::int64_t global_batch)
    : seed_(seed), epoch_(epoch), n_(n), batch_(global_batch) {
  if (n < 1) throw data_error(fmt::format("epoch_plan: archive size must be positive, got {}", n));
  if (global_batch < 1)
    throw data_error(
        fmt::format("epoch_plan: global batch must be positive, got {}", global_batch));
  if (epoch < 0) throw data_error(fmt::format("epoch_plan: epoch must be >= 0, got {}", epoch));
  steps_ = n / global_batch;
  half_bits_ = 1;
  while ((std::int64_t{1} << (2 * half_bits_)) < n) ++half_bits_;
}

// A balanced Feistel network on 2*half_bits_ bits is a bijection whatever its round function;
// the round function is Philox keyed by (seed, epoch, purpose epoch_permutation).
std::uint64_t epoch_plan::feistel(std::uint64_t x) const {
  const std::uint64_t mask = (std::uint64_t{1} << half_bits_) - 1;
  std::uint64_t left = x >> half_bits_, right = x & mask;
  for (int r = 0; r < rounds; ++r) {
    rng::stream_key k{seed_, static_cast<std::uint64_t>(epoch_), right, 0, rng::epoch_permutation};
    const auto d = rng::draw(k, static_cast<std::uint32_t>(r));
    const std::uint64_t f = ((static_cast<std::uint64_t>(d.v[1]) << 32) | d.v[0]) & mask;
    const std::uint64_t next = left ^ f;
    left = right;
    right = next;
  }
  return (left << half_bits_) | right;
}

std::int64_t epoch_plan::at(std::int64_t position) const {
  if (position < 0 || position >= n_)
    throw data_error(fmt::format("epoch_plan: position {} outside [0, {})", position, n_));
  // Cycle-walking: a bijection on [0, 4^k) restricted to [0, n) by re-applying it until the
  // value falls inside (the domain is < 4n, so a few steps on average).
  std::uint64_t x = static_cast<std::uint64_t>(position);
  do {
    x = feistel(x);
  } while (x >= static_cast<std::uint64_t>(n_));
  return static_cast<std::int64_t>(x);
}

std::vector<std::int64_t> epoch_plan::global_ids(std::int64_t step) const {
  if (step < 0 || step >= steps_)
    throw data_error(fmt::format("epoch_plan: step {} outside [0, {})", step, steps_));
  std::vector<std::int64_t> ids(static_cast<std::size_t>(batch_));
  for (std::int64_t i = 0; i < batch_; ++i)
    ids[static_cast<std::size_t>(i)] = at(step * batch_ + i);
  return ids;
}

std::vector<std::int64_t> epoch_plan::rank_ids(std::int64_t step, int rank, int world) const {
  if (world < 1 || rank < 0 || rank >= world)
    throw data_error(fmt::format("epoch_plan: rank {} of world {} is invalid", rank, world));
  if (batch_ % world != 0)
    throw data_error(fmt::format(
        "global batch {} is not divisible by the number of ranks {} (each rank must get the "
        "same share)",
        batch_, world));
  if (step < 0 || step >= steps_)
    throw data_error(fmt::format("epoch_plan: step {} outside [0, {})", step, steps_));
  const std::int64_t local = batch_ / world;
  std::vector<std::int64_t> ids(static_cast<std::size_t>(local));
  for (std::int64_t i = 0; i < local; ++i)
    ids[static_cast<std::size_t>(i)] = at(step * batch_ + rank * local + i);
  return ids;
}

void check_start(const std::string& who, std::int64_t epoch, std::int64_t step,
                 std::int64_t steps) {
  if (epoch < 0 || step < 0 || step >= steps)
    throw data_error(fmt::format("{}: (epoch {}, step {}) is outside an epoch of {} steps", who,
                                 epoch, step, steps));
}

}  // namespace skyssl::data
