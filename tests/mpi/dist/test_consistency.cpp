// check_consistent: silent when ranks agree; when one rank perturbs a tensor, every rank
// throws a dist_error naming the set, the step, the tensor and the culprit rank.

// torch before doctest: c10's logging defines CHECK, doctest must define it last.
#include <torch/types.h>
#include <doctest/doctest.h>
#include <string>

#include "skyssl/core/error.hpp"
#include "skyssl/dist/communicator.hpp"
#include "skyssl/dist/consistency.hpp"
#include "tests/support/mpi_world.hpp"

using namespace skyssl;

namespace {
std::vector<torch::Tensor> state() {
  return {torch::linspace(-1, 1, 100).reshape({10, 10}),
          torch::arange(4096, torch::kFloat32).reshape({32, 128}) / 4096,  // a "queue"
          torch::arange(5, torch::kInt64)};
}
}  // namespace

TEST_CASE("check_consistent passes when all ranks agree") {
  auto comm = skyssl::test::mpi_world();
  CHECK_NOTHROW(dist::check_consistent(*comm, state(), "weights", 7));
  CHECK_NOTHROW(dist::check_consistent(*comm, std::vector<torch::Tensor>{}, "nothing", 7));
}

TEST_CASE("check_consistent names the diverged tensor and rank") {
  auto comm = skyssl::test::mpi_world();
  const int R = comm->world();
  if (R == 1) {
    // Nothing can diverge in a world of one; the digest itself must still see the change
    // (covered in tests/unit/dist); here the check must stay silent.
    auto s = state();
    s[1][3][5] += 1e-6f;
    CHECK_NOTHROW(dist::check_consistent(*comm, s, "queue", 3));
    return;
  }
  const int culprit = R - 1;
  auto s = state();
  if (comm->rank() == culprit) s[1][3][5] += 1e-6f;  // one ulp-scale change
  std::string msg;
  try {
    dist::check_consistent(*comm, s, "queue", 42, {"w", "queue", "ptr"});
  } catch (const dist_error& e) {
    msg = e.what();
  }
  INFO(msg);
  // Every rank throws, not only the culprit.
  REQUIRE(!msg.empty());
  CHECK(msg.find("'queue' diverged") != std::string::npos);
  CHECK(msg.find("step 42") != std::string::npos);
  CHECK(msg.find("tensor 'queue' [32,128]") != std::string::npos);
  CHECK(msg.find("rank " + std::to_string(culprit) + " differs") != std::string::npos);
  CHECK(msg.find("'w'") == std::string::npos);  // only the diverged tensor is named

  // A permutation (same sum) is caught too.
  auto p = state();
  if (comm->rank() == 0) p[2] = torch::tensor({1, 0, 2, 3, 4}, torch::kInt64);
  CHECK_THROWS_AS(dist::check_consistent(*comm, p, "queue", 43), dist_error);

  // Different tensor counts are reported, not a hang or a crash in the gather.
  auto fewer = state();
  if (comm->rank() == culprit) fewer.pop_back();
  CHECK_THROWS_AS(dist::check_consistent(*comm, fewer, "weights", 44), dist_error);
}
