// doctest under MPI, failing fast and loudly. Every rank runs every test case with its output
// kept in its own log (rank_logs). The first test case that fails on any rank ends the job
// at once: that rank prints the logs of all ranks, rank-prefixed, and calls MPI_Abort, so the
// ranks still waiting in a collective for it are taken down instead of hanging until ctest's
// timeout. Ranks that wait on a peer that stalls outside MPI are freed by the collective
// watchdog of mpi_world() (a dist_error, hence a failed test case, within
// SKYSSL_TEST_COLLECTIVE_TIMEOUT_S). On success only rank 0's output is shown, as before.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <thread>

#include "skyssl/dist/runtime.hpp"
#include "tests/support/mpi_world.hpp"
#include "tests/support/rank_logs.hpp"

namespace {

skyssl::test::rank_logs* g_logs = nullptr;
skyssl::dist::communicator* g_comm = nullptr;

struct fail_fast : doctest::IReporter {
  const doctest::TestCaseData* tc = nullptr;
  explicit fail_fast(const doctest::ContextOptions&) {}
  void test_case_start(const doctest::TestCaseData& d) override { tc = &d; }
  void test_case_end(const doctest::CurrentTestCaseStats& st) override {
    if (st.testCaseSuccess || !g_logs) return;
    const std::string name = tc ? tc->m_name : "?";
    std::fprintf(stderr, "mpi test: test case '%s' failed on rank %d; aborting all ranks\n",
                 name.c_str(), g_comm->rank());
    if (!g_logs->claim_report()) {
      // Another rank is printing every log and will abort the job; do not cut it short.
      std::this_thread::sleep_for(std::chrono::seconds(60));
    } else {
      g_logs->dump();
      g_logs->restore();
    }
    g_comm->abort("mpi test: '" + name + "' failed on rank " + std::to_string(g_comm->rank()) +
                      " (every rank's output is above)",
                  1);
  }
  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats&) override {}
  void test_case_reenter(const doctest::TestCaseData&) override {}
  void test_case_exception(const doctest::TestCaseException&) override {}
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData&) override {}
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData&) override {}
};
DOCTEST_REGISTER_LISTENER("fail_fast", 1, fail_fast);

}  // namespace

int main(int argc, char** argv) {
  skyssl::dist::runtime rt(&argc, &argv);
  auto comm = skyssl::test::mpi_world();
  // Ranks start seconds apart on a loaded machine or under sanitizers: the start-up broadcast
  // gets a generous deadline of its own.
  comm->set_timeout(std::max(120.0, skyssl::test::collective_timeout_s()));
  skyssl::test::rank_logs logs(*comm, argv[0]);
  comm->set_timeout(skyssl::test::collective_timeout_s());
  g_logs = &logs;
  g_comm = comm.get();
  doctest::Context ctx(argc, argv);
  const int rc = ctx.run();
  // A failure outside any test case (rc != 0 without an abort): still report every rank.
  auto t = torch::tensor({static_cast<int64_t>(rc != 0)});
  comm->all_reduce_sum(t);
  const bool any_failed = t.item<int64_t>() > 0;
  if (any_failed) {
    if (comm->rank() == 0) logs.dump();
  } else if (comm->rank() == 0) {
    logs.replay_own();
  }
  comm->barrier();
  if (!any_failed && comm->rank() == 0) std::filesystem::remove_all(logs.folder());
  return any_failed ? 1 : 0;
}
