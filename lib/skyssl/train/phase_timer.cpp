#include "skyssl/train/phase_timer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "skyssl/moco/engine.hpp"

namespace skyssl::train {

const char* phase_name(int p) {
  static constexpr const char* names[phase_count] = {
      "read_wait", "to_device", "query_forward", "key_path", "loss", "backward", "grad_sync",
      "optimizer", "enqueue",   "checkpoint",    "other",    "read", "augment"};
  return p >= 0 && p < phase_count ? names[p] : "?";
}
const char* phase_name(phase p) { return phase_name(static_cast<int>(p)); }

void phase_times::add(const moco::step_times& t) {
  (*this)[phase::to_device] += t.to_device;
  (*this)[phase::query_forward] += t.query_forward;
  (*this)[phase::key_path] += t.key_path;
  (*this)[phase::loss] += t.loss;
  (*this)[phase::backward] += t.backward;
  (*this)[phase::grad_sync] += t.grad_sync;
  (*this)[phase::optimizer] += t.optimizer;
  (*this)[phase::enqueue] += t.enqueue;
}

phase_times& phase_times::operator+=(const phase_times& o) {
  for (int i = 0; i < phase_count; ++i)
    s[static_cast<std::size_t>(i)] += o.s[static_cast<std::size_t>(i)];
  return *this;
}

double phase_times::main_thread_sum() const {
  double sum = 0;
  for (int i = 0; i < static_cast<int>(phase::other); ++i) sum += s[static_cast<std::size_t>(i)];
  return sum;
}

std::string phase_breakdown(const phase_times& t, double seconds) {
  if (!(seconds > 0)) return "";
  std::vector<std::pair<double, int>> parts;
  for (int i = 0; i < main_thread_phases; ++i)
    parts.emplace_back(t.s[static_cast<std::size_t>(i)], i);
  std::sort(parts.begin(), parts.end(), [](auto& a, auto& b) { return a.first > b.first; });
  std::string out;
  for (const auto& [sec, i] : parts) {
    const double pct = 100.0 * sec / seconds;
    if (pct < 1.0) continue;
    out += fmt::format("{}{} {:.0f}%", out.empty() ? "" : ", ", phase_name(i), pct);
  }
  return out;
}

}  // namespace skyssl::train
