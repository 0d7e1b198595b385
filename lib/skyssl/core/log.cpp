#include "skyssl/core/log.hpp"

#include <chrono>
#include <cmath>

namespace skyssl::log {
namespace {
int g_rank = 0;
int g_world = 1;
const auto g_start = std::chrono::steady_clock::now();
}  // namespace

void set_rank(int r, int w) {
  g_rank = r;
  g_world = w;
}
int rank() { return g_rank; }
int world() { return g_world; }
double seconds_since_start() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - g_start).count();
}
void write_info(const std::string& line) {
  if (g_rank != 0) return;
  std::fprintf(stdout, "%s\n", line.c_str());
  std::fflush(stdout);
}
void write_all(const std::string& line) {
  std::fprintf(stdout, "[rank %d] %s\n", g_rank, line.c_str());
  std::fflush(stdout);
}
void write_error(const std::string& line) {
  if (g_world > 1)
    std::fprintf(stderr, "skyssl: error [rank %d/%d]: %s\n", g_rank, g_world, line.c_str());
  else
    std::fprintf(stderr, "skyssl: error: %s\n", line.c_str());
  std::fflush(stderr);
}
void write_warning(const std::string& line) {
  if (g_rank != 0) return;
  std::fprintf(stderr, "skyssl: warning: %s\n", line.c_str());
  std::fflush(stderr);
}

}  // namespace skyssl::log

namespace skyssl {

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  const auto t = static_cast<long long>(s + 0.5);
  if (t >= 3600) return fmt::format("{}h{:02}m", t / 3600, (t % 3600) / 60);
  if (t >= 60) return fmt::format("{}m{:02}s", t / 60, t % 60);
  return fmt::format("{}s", t);
}

}  // namespace skyssl
