#pragma once
// The clock lib/train times its phases with, and the seconds since a reading of it.
#include <chrono>

namespace skyssl::train::detail {

using clock_type = std::chrono::steady_clock;

inline double since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

}  // namespace skyssl::train::detail
