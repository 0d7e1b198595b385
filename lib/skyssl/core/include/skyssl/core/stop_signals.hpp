#pragma once
// Stopping a tool cleanly on SIGTERM (a time limit, scancel, kill) or SIGINT (Ctrl-C). The
// tools that do not poll for signals (skyssl-prep, -embed, -eval, -search, -export) install
// this: the handler removes every output temporary still open (atomic_output registers them),
// writes the tool's one-line hint on how to resume, and ends the process by the signal's own
// default action, so the shell and the batch system see "killed by SIGTERM". Nothing
// half-written is left under an output's name: outputs are renamed into place only when
// complete, and skyssl-embed's file keeps its finished chunks for the next run.
// (skyssl-train polls instead: train/stop_signals.hpp checkpoints after the current step.)
#include <string>

namespace skyssl {

// Installs the handlers for SIGTERM and SIGINT; `hint` ("skyssl-embed: stopped; run the same
// command to resume") is printed to stderr when one arrives. Call once, early in main.
void stop_cleanly_on_signals(const std::string& hint);

namespace detail {
// Registers a temporary for removal by the handler; returns its slot (-1 when all are taken:
// the temporary is then only removed by its owner). `path` must outlive the registration.
int register_temporary(const char* path);
void release_temporary(int slot);
}  // namespace detail

}  // namespace skyssl
