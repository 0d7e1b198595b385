#include "kernels/augment_threads.hpp"

#include <sched.h>

#include <stdexcept>
#include <string>
#include <thread>

#include "kernels/serial_team.hpp"

#if !defined(KOKKOS_ENABLE_SERIAL)
#error "augment_threads needs Kokkos' Serial backend (the per-thread teams are Serial teams)"
#endif

namespace skyssl::kernels {

int usable_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw > 0 ? static_cast<int>(hw) : 1;
}

namespace {

int checked(int threads) {
  if (threads < 1)
    throw std::invalid_argument("augment_threads: threads must be >= 1, got " +
                                std::to_string(threads));
  return threads;
}

}  // namespace

augment_threads::augment_threads(int threads) : pool_(checked(threads)) {
  for (int k = 0; k < pool_.size(); ++k) teams_.push_back(std::make_unique<serial_team>());
}

augment_threads::~augment_threads() = default;

void augment_threads::for_ranges(
    std::int64_t n, const std::function<void(serial_team&, std::int64_t, std::int64_t)>& work) {
  if (n <= 0) return;
  pool_.parallel_for(static_cast<std::size_t>(n), [&](std::size_t lo, std::size_t hi, int share) {
    work(*teams_[static_cast<std::size_t>(share)], static_cast<std::int64_t>(lo),
         static_cast<std::int64_t>(hi));
  });
}

}  // namespace skyssl::kernels
