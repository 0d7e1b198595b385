#include "skyssl/core/stop_signals.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>

namespace skyssl {
namespace {

// Only async-signal-safe work in the handler: atomics, unlink, write, sigaction, raise.
constexpr int max_temporaries = 64;
std::atomic<const char*> temporaries[max_temporaries];
char hint_text[512];
std::size_t hint_length = 0;

extern "C" void on_stop(int sig) {
  for (auto& t : temporaries)
    if (const char* p = t.exchange(nullptr)) ::unlink(p);
  if (hint_length > 0) {
    const ssize_t ignored = ::write(STDERR_FILENO, hint_text, hint_length);
    (void)ignored;
  }
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(sig, &dfl, nullptr);
  ::raise(sig);
}

}  // namespace

void stop_cleanly_on_signals(const std::string& hint) {
  const std::string line = hint + "\n";
  hint_length = std::min(line.size(), sizeof hint_text);
  std::memcpy(hint_text, line.data(), hint_length);
  struct sigaction sa {};
  sa.sa_handler = on_stop;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESETHAND;  // a second signal takes the default action at once
  for (int s : {SIGTERM, SIGINT}) sigaction(s, &sa, nullptr);
}

namespace detail {

int register_temporary(const char* path) {
  for (int i = 0; i < max_temporaries; ++i) {
    const char* expected = nullptr;
    if (temporaries[i].compare_exchange_strong(expected, path)) return i;
  }
  return -1;
}

void release_temporary(int slot) {
  if (slot >= 0 && slot < max_temporaries) temporaries[slot].store(nullptr);
}

}  // namespace detail
}  // namespace skyssl
