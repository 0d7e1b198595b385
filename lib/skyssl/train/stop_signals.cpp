#include "skyssl/train/stop_signals.hpp"

#include <signal.h>

#include <atomic>
#include <initializer_list>
#include <csignal>

namespace skyssl::train {
namespace {

volatile std::sig_atomic_t received = 0;
std::atomic<bool> installed{false};

extern "C" void on_stop_signal(int sig) {
  if (received == 0) received = sig;
  // A second Ctrl-C means "now": the default action takes the process down.
  if (sig == SIGINT) std::signal(SIGINT, SIG_DFL);
}

}  // namespace

void install_stop_handlers() {
  if (installed.exchange(true)) return;
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;  // reads and collectives in flight carry on
  for (int s : {SIGUSR1, SIGTERM, SIGINT}) sigaction(s, &sa, nullptr);
}

int pending_stop_signal() { return received; }

int exit_code_for_signal(int signal) { return signal == SIGINT ? exit_interrupted : exit_requeue; }

void clear_stop_signal() { received = 0; }

}  // namespace skyssl::train
