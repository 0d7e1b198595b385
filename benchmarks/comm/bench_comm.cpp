// Question: what does skyssl's communicator (and the gradient bucketer) cost on top of the
// raw MPI call, at the sizes a MoCo step moves? Run under mpiexec -n 2 (or more):
//   mpiexec -n 2 build/benchmarks/comm/bench_comm [--iters 10]
// Sizes: ResNet-18 and ResNet-50 gradients (11.2M, 23.5M float32 all-reduced) and the keys
// of a 4096-image global batch (4096/R x 128 float32 all-gathered). Raw and ours alternate
// every iteration so background load hits both alike; the median over iterations of the
// slowest rank is reported. This file (a baseline) is the one place outside lib/dist that
// includes mpi.h on purpose.
#include <fmt/format.h>
#include <mpi.h>
#include <torch/types.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "skyssl/dist/communicator.hpp"
#include "skyssl/dist/gradient_bucketer.hpp"
#include "skyssl/dist/runtime.hpp"
#include "skyssl/dist/make_communicator.hpp"

using namespace skyssl;

namespace {

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Time one call on every rank, return the slowest rank's time.
double timed(const std::function<void()>& f) {
  MPI_Barrier(MPI_COMM_WORLD);
  const double t0 = now();
  f();
  double dt = now() - t0, worst = 0;
  MPI_Allreduce(&dt, &worst, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return worst;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct row {
  std::string what;
  double raw_ms, ours_ms;
};

// Alternates raw and ours for `iters` iterations (after one warm-up of each).
row compare(const std::string& what, int iters, const std::function<void()>& raw,
            const std::function<void()>& ours) {
  raw();
  ours();
  std::vector<double> tr, to;
  for (int i = 0; i < iters; ++i) {
    tr.push_back(timed(raw));
    to.push_back(timed(ours));
  }
  return {what, 1e3 * median(tr), 1e3 * median(to)};
}

// Parameter shapes shaped like a ResNet's: many small tensors and a few large ones, totalling
// `total` floats, so the bucketer packs realistically.
std::vector<torch::Tensor> fake_params(std::int64_t total) {
  std::vector<torch::Tensor> ps;
  std::int64_t left = total;
  const std::vector<std::int64_t> pattern = {64,  64,  36864,  64,  64,  147456,
                                             256, 256, 589824, 512, 512, 2359296};
  for (std::size_t i = 0; left > 0; ++i) {
    const std::int64_t n = std::min(left, pattern[i % pattern.size()]);
    ps.push_back(torch::zeros({n}, torch::requires_grad()));
    left -= n;
  }
  return ps;
}

}  // namespace

int main(int argc, char** argv) {
  dist::runtime rt(&argc, &argv);
  int iters = 10;
  // --grad-floats N: one all-reduce size instead of the two ResNets; --keys-per-rank N: the
  // key all-gather's rows per rank (0: skip it); --skip-bucketer. Used by
  // `scaling.py run --hosts 2 --comm-only` on emulated hosts with shaped links.
  std::int64_t grad_floats = 0, keys_per_rank = -1;
  bool bucketer = true;
  for (int i = 1; i < argc; ++i) {
    const bool has_value = i + 1 < argc;
    if (std::strcmp(argv[i], "--iters") == 0 && has_value) iters = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--grad-floats") == 0 && has_value)
      grad_floats = std::atoll(argv[i + 1]);
    if (std::strcmp(argv[i], "--keys-per-rank") == 0 && has_value)
      keys_per_rank = std::atoll(argv[i + 1]);
    if (std::strcmp(argv[i], "--skip-bucketer") == 0) bucketer = false;
  }
  auto comm = dist::make_communicator("mpi");
  auto comm_wd = dist::make_communicator("mpi");
  comm_wd->set_timeout(600);
  const int R = comm->world();
  std::vector<row> rows;

  std::vector<std::pair<const char*, std::int64_t>> sizes = {{"ResNet-18 grads", 11'200'000},
                                                             {"ResNet-50 grads", 23'500'000}};
  if (grad_floats > 0) sizes = {{"grads", grad_floats}};
  if (grad_floats < 0) sizes.clear();
  for (auto [name, n] : sizes) {
    torch::Tensor buf = torch::ones({n});
    const std::string size = fmt::format("{} all_reduce {:.1f}M f32", name, n / 1e6);
    auto raw = [&] {
      MPI_Allreduce(MPI_IN_PLACE, buf.data_ptr(), static_cast<int>(n), MPI_FLOAT, MPI_SUM,
                    MPI_COMM_WORLD);
    };
    rows.push_back(
        compare(size + " (all_reduce_sum)", iters, raw, [&] { comm->all_reduce_sum(buf); }));
    rows.push_back(
        compare(size + " (watchdog on)", iters, raw, [&] { comm_wd->all_reduce_sum(buf); }));

    if (!bucketer) continue;
    // Bucketer: gradients arrive through autograd hooks, packed into 25 MB buckets, reduced,
    // averaged and unpacked. The backward itself is timed separately and subtracted.
    auto ps = fake_params(n);
    auto backward = [&] {
      torch::Tensor loss = torch::zeros({1});
      for (auto& p : ps) loss = loss + p.sum();
      loss.backward();
    };
    std::vector<double> t_back, t_sync;
    backward();
    for (int i = 0; i < iters; ++i) t_back.push_back(timed(backward));
    {
      dist::gradient_bucketer sync(*comm, ps, 25.0);
      backward();
      sync.finish();
      for (int i = 0; i < iters; ++i) {
        t_sync.push_back(timed([&] {
          backward();
          sync.finish();
        }));
      }
    }
    std::vector<double> t_raw;
    for (int i = 0; i < iters; ++i) t_raw.push_back(timed(raw));
    rows.push_back({size + " (bucketer, 25 MB)", 1e3 * median(t_raw),
                    1e3 * (median(t_sync) - median(t_back))});
  }

  if (keys_per_rank != 0) {
    const std::int64_t local = keys_per_rank > 0 ? keys_per_rank : 4096 / R;
    torch::Tensor keys = torch::ones({local, 128});
    torch::Tensor out = torch::empty({local * R, 128});
    const std::string what = fmt::format("keys all_gather {}x128 f32 per rank", local);
    auto raw = [&] {
      MPI_Allgather(keys.data_ptr(), static_cast<int>(keys.numel()), MPI_FLOAT, out.data_ptr(),
                    static_cast<int>(keys.numel()), MPI_FLOAT, MPI_COMM_WORLD);
    };
    rows.push_back(
        compare(what + " (all_gather)", iters * 10, raw, [&] { comm->all_gather(keys); }));
    rows.push_back(
        compare(what + " (watchdog on)", iters * 10, raw, [&] { comm_wd->all_gather(keys); }));
  }

  if (comm->rank() == 0) {
    fmt::print("skyssl communicator vs raw MPI, {} ranks, median of {} iterations (slowest rank)\n",
               R, iters);
    fmt::print("{:<62} {:>10} {:>10} {:>9}\n", "operation", "raw ms", "ours ms", "overhead");
    for (const auto& r : rows)
      fmt::print("{:<62} {:>10.2f} {:>10.2f} {:>8.1f}%\n", r.what, r.raw_ms, r.ours_ms,
                 100.0 * (r.ours_ms - r.raw_ms) / r.raw_ms);
  }
  return 0;
}
