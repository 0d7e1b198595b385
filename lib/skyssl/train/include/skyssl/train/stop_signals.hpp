#pragma once
// Signals that ask a run to stop cleanly. SIGUSR1 (Slurm's --signal=B:USR1@<s>, forwarded by
// the jobscript) and SIGTERM (time limit, preemption, scancel) mean "checkpoint and requeue
// me"; SIGINT (Ctrl-C) means "checkpoint and stop". The handler only records the signal: the
// training loop agrees with the other ranks after each step (see trainer.cpp), so every rank
// stops after the same step and none is left in a collective. A second SIGINT kills at once.
namespace skyssl::train {

// Exit codes of skyssl-train (docs/checkpoints.md, jobscripts/).
inline constexpr int exit_done = 0;
inline constexpr int exit_error = 1;
inline constexpr int exit_requeue = 85;       // checkpointed after SIGUSR1/SIGTERM
inline constexpr int exit_interrupted = 130;  // checkpointed after SIGINT (128 + 2)

// Installs the handlers (idempotent).
void install_stop_handlers();
// The first stop signal received since install_stop_handlers(), or 0.
int pending_stop_signal();
// Exit code for a stop caused by `signal`.
int exit_code_for_signal(int signal);
// For tests: forget a received signal.
void clear_stop_signal();

}  // namespace skyssl::train
