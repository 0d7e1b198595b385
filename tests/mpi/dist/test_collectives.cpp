// all_reduce / all_gather / broadcast / barrier through the MPI backend, at every rank count,
// with and without the watchdog (which switches to the non-blocking MPI calls).

// torch before doctest: c10's logging defines CHECK, doctest must define it last.
#include <torch/types.h>
#include <doctest/doctest.h>
#include <vector>

#include "skyssl/core/error.hpp"
#include "skyssl/dist/communicator.hpp"
#include "skyssl/dist/make_communicator.hpp"
#include "tests/support/mpi_world.hpp"

using namespace skyssl;

namespace {

const std::vector<torch::ScalarType> dtypes = {torch::kFloat32, torch::kFloat64, torch::kInt64,
                                               torch::kInt32,   torch::kUInt8,   torch::kInt8};
const std::vector<std::vector<int64_t>> shapes = {{}, {1}, {7}, {3, 5, 2}, {0, 4}, {1000, 33}};

// A value pattern that depends on the rank and stays small enough for int8 sums at 4 ranks.
torch::Tensor pattern(const std::vector<int64_t>& shape, torch::ScalarType dt, int rank) {
  int64_t n = 1;
  for (auto s : shape) n *= s;
  torch::Tensor idx = torch::arange(n, torch::kInt64);
  torch::Tensor v = (idx * 7 + rank * 3) % 11 + rank;
  return v.to(dt).reshape(shape);
}

void run_all(dist::communicator& comm) {
  const int R = comm.world(), me = comm.rank();
  for (auto dt : dtypes) {
    for (const auto& shape : shapes) {
      CAPTURE(std::string(c10::toString(dt)));
      CAPTURE(shape.size());
      // all_reduce_sum: the sum of every rank's pattern, computed locally.
      torch::Tensor expect = torch::zeros(shape, torch::kInt64);
      for (int r = 0; r < R; ++r) expect += pattern(shape, torch::kInt64, r);
      torch::Tensor t = pattern(shape, dt, me);
      comm.all_reduce_sum(t);
      CHECK((t.scalar_type() == dt));
      CHECK(torch::equal(t.to(torch::kInt64), expect));

      // start_all_reduce_sum: same result once waited on.
      torch::Tensor a = pattern(shape, dt, me);
      auto op = comm.start_all_reduce_sum(a);
      op->wait();
      CHECK(op->test());
      CHECK(torch::equal(a.to(torch::kInt64), expect));

      // all_gather: rank blocks in rank order along dim 0.
      torch::Tensor g = comm.all_gather(pattern(shape, dt, me));
      std::vector<torch::Tensor> parts;
      for (int r = 0; r < R; ++r) {
        torch::Tensor p = pattern(shape, dt, r);
        parts.push_back(p.dim() == 0 ? p.reshape({1}) : p);
      }
      CHECK(torch::equal(g, torch::cat(parts, 0)));

      // broadcast from every root.
      for (int root = 0; root < R; ++root) {
        torch::Tensor b = pattern(shape, dt, me);
        comm.broadcast(b, root);
        CHECK(torch::equal(b, pattern(shape, dt, root)));
      }
    }
  }
  // all_reduce_mean on floats.
  torch::Tensor m = torch::full({4, 4}, static_cast<double>(me), torch::kFloat64);
  comm.all_reduce_mean(m);
  CHECK(torch::allclose(m, torch::full({4, 4}, (R - 1) / 2.0, torch::kFloat64)));
  comm.barrier();
}

}  // namespace

TEST_CASE("mpi collectives: dtypes and shapes") {
  // The blocking MPI calls (no watchdog) on purpose: the watchdog path is the next case.
  auto comm = dist::make_communicator("mpi");
  CHECK(comm->backend() == "mpi");
  run_all(*comm);
}

TEST_CASE("mpi collectives with the watchdog on (non-blocking calls polled to a deadline)") {
  dist::options o;
  o.backend = "mpi";
  o.timeout_s = 60;
  auto comm = dist::make_communicator(o);
  CHECK(comm->timeout() == 60);
  run_all(*comm);
}

TEST_CASE("mpi collectives reject what they cannot send") {
  auto comm = skyssl::test::mpi_world();
  torch::Tensor nc = torch::zeros({4, 4}).t();
  CHECK_THROWS_AS(comm->all_reduce_sum(nc), dist_error);
  torch::Tensor c = torch::zeros({2}, torch::kComplexFloat);
  CHECK_THROWS_AS(comm->all_reduce_sum(c), dist_error);
  torch::Tensor ok = torch::zeros({2});
  CHECK_THROWS_AS(comm->broadcast(ok, comm->world()), dist_error);
  // all_gather accepts non-contiguous input (copies it).
  torch::Tensor g = comm->all_gather(torch::arange(6).reshape({2, 3}).t());
  CHECK(g.size(0) == 3 * comm->world());
}

TEST_CASE("auto resolves to mpi on a CPU-only LibTorch") {
  CHECK(dist::resolve_backend("auto") == "mpi");
  CHECK_THROWS_AS(dist::resolve_backend("gloo"), config_error);
}
