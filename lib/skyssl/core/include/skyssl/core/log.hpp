#pragma once
// Rank-aware console output. Only rank 0 prints info unless asked; errors always print with
// the rank so a message from a dying rank can be traced.
#include <fmt/format.h>

#include <cstdio>
#include <string>

namespace skyssl::log {

void set_rank(int rank, int world);
int rank();
int world();
double seconds_since_start();

void write_info(const std::string& line);     // rank 0 only, stdout
void write_all(const std::string& line);      // every rank, prefixed with [rank r]
void write_error(const std::string& line);    // every rank, stderr, prefixed
void write_warning(const std::string& line);  // rank 0 only, stderr, "skyssl: warning: "

template <class... A>
void info(fmt::format_string<A...> f, A&&... a) {
  write_info(fmt::format(f, std::forward<A>(a)...));
}
template <class... A>
void all(fmt::format_string<A...> f, A&&... a) {
  write_all(fmt::format(f, std::forward<A>(a)...));
}
template <class... A>
void warn(fmt::format_string<A...> f, A&&... a) {
  write_warning(fmt::format(f, std::forward<A>(a)...));
}
template <class... A>
void error(fmt::format_string<A...> f, A&&... a) {
  write_error(fmt::format(f, std::forward<A>(a)...));
}

}  // namespace skyssl::log

namespace skyssl {

// "42s", "3m07s", "2h05m"; "?" for a negative or non-finite number (an unknown ETA).
std::string format_duration(double seconds);

}  // namespace skyssl
