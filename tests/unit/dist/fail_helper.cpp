// A tiny MPI program for the failure-handling test: ranks loop over all-reduces, and one rank
// throws, is SIGKILLed, or stalls outside MPI. The top-level catch is the pattern every skyssl
// app uses: print one line and take all ranks down with communicator::abort.
#include <fmt/format.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "skyssl/core/error.hpp"
#include "skyssl/dist/communicator.hpp"
#include "skyssl/dist/runtime.hpp"
#include "skyssl/dist/make_communicator.hpp"

int main(int argc, char** argv) {
  skyssl::dist::runtime rt(&argc, &argv);
  int throw_rank = -1, kill_rank = -1, stall_rank = -1, steps = 20, step_ms = 0;
  double timeout = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    const int v = std::atoi(argv[i + 1]);
    if (a == "--throw-on-rank") throw_rank = v;
    if (a == "--kill-on-rank") kill_rank = v;
    if (a == "--stall-on-rank") stall_rank = v;
    if (a == "--timeout") timeout = std::atof(argv[i + 1]);
    // Long runs for the multi-node tests (tests/cluster), which cut a link mid-run.
    if (a == "--steps") steps = v;
    if (a == "--step-ms") step_ms = v;
  }
  auto comm = skyssl::dist::make_communicator("mpi");
  comm->set_timeout(timeout);
  const bool fails =
      comm->rank() == throw_rank || comm->rank() == kill_rank || comm->rank() == stall_rank;
  try {
    for (int step = 0; step < steps; ++step) {
      if (step_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(step_ms));
      if (step == 3 && fails) {
        // Wall-clock time of the failure, so the test measures failure -> job exit and not
        // the start-up of 4 ranks loading LibTorch on a busy machine.
        const double t =
            std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
                .count();
        std::fprintf(stderr, "fail_helper: rank %d injects its failure at t=%.3f\n", comm->rank(),
                     t);
        std::fflush(stderr);
      }
      if (step == 3 && comm->rank() == throw_rank)
        throw skyssl::dist_error(fmt::format("injected failure on rank {}", comm->rank()));
      if (step == 3 && comm->rank() == kill_rank) std::raise(SIGKILL);
      if (step == 3 && comm->rank() == stall_rank)
        std::this_thread::sleep_for(std::chrono::seconds(120));
      torch::Tensor t = torch::ones({1000});
      comm->all_reduce_sum(t);
      if (t[0].item<float>() != comm->world()) throw skyssl::dist_error("wrong all-reduce result");
      if (step == 0 && step_ms > 0 && comm->rank() == 0) {
        std::printf("fail_helper: every rank is in the loop\n");  // the cluster test waits for it
        std::fflush(stdout);
      }
    }
    comm->barrier();
  } catch (const std::exception& e) {
    comm->abort(fmt::format("error: {}", e.what()), 3);
  }
  if (comm->rank() == 0) std::printf("fail_helper: all %d ranks finished\n", comm->world());
  return 0;
}
