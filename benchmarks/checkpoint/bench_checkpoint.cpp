// Question: what does checkpointing cost? In one run:
//   1. size, snapshot time (on the training thread), write time (fsync'd, background thread in
//      training), verify and read time, for ResNet-18 and ResNet-50 (width 64, K 65536);
//   2. the step time of a small training run with no checkpoints vs a checkpoint every
//      --every steps (far more often than the default of every 30 minutes), sides interleaved;
//   3. the per-step stop agreement (a 4-number all-reduce) under mpiexec -n R.
//   bench_checkpoint [--dir DIR] [--steps 60] [--every 10] [--reps 3]
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <torch/optim/sgd.h>
#include <torch/types.h>
#include <torch/utils.h>

#include <algorithm>
#include <chrono>

#include "skyssl/core/allocator.hpp"
#include "skyssl/core/config.hpp"
#include "skyssl/core/error.hpp"
#include "skyssl/core/log.hpp"
#include "skyssl/dist/communicator.hpp"
#include "skyssl/train/checkpoint.hpp"
#include "skyssl/train/state_io.hpp"
#include "skyssl/train/trainer.hpp"
#include "skyssl/dist/runtime.hpp"
#include "skyssl/dist/make_communicator.hpp"

using namespace skyssl;
namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

namespace {

double since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

config make_config(const std::string& arch, int width, std::int64_t K, std::int64_t batch,
                   std::int64_t every_steps) {
  return config::from_string(fmt::format(R"(
[model]
arch = "{}"
width = {}
[moco]
K = {}
bn_group = 0
[train]
epochs = 1000
global_batch = {}
threads = 0
log_every = 1000000
[checkpoint]
every_steps = {}
every_minutes = 0
keep = 2
)",
                                         arch, width, K, batch, every_steps),
                             "bench");
}

struct cost {
  double mb = 0, snapshot_s = 0, write_s = 0, verify_s = 0, read_s = 0;
};

cost measure_checkpoint(const std::string& arch, dist::communicator& comm, const fs::path& dir,
                        int reps) {
  auto cfg = make_config(arch, 64, 65536, 8, 0);
  auto s = train::make_state(skyssl::train::run_options_from(cfg, comm), comm, 3, 100);
  // One step, so that SGD has its momentum buffers.
  auto v = torch::randn({8, 3, 32, 32});
  s.moco->train_step(v, v + 0.1, 0, 0, *s.optimizer);
  s.global_step = 1;
  std::vector<double> snap, write, verify, read;
  cost c;
  for (int r = 0; r < reps; ++r) {
    fs::remove_all(dir);
    auto t0 = clock_type::now();
    auto data = train::snapshot_state(s, comm);
    snap.push_back(since(t0));
    t0 = clock_type::now();
    const auto path = train::write_checkpoint(dir, data);
    write.push_back(since(t0));
    t0 = clock_type::now();
    if (!train::verify_checkpoint(path).empty()) throw error("bench: checkpoint did not verify");
    verify.push_back(since(t0));
    t0 = clock_type::now();
    train::read_checkpoint(path);
    read.push_back(since(t0));
    c.mb = 0;
    for (const auto& e : fs::directory_iterator(path))
      c.mb += static_cast<double>(e.file_size()) / 1e6;
  }
  fs::remove_all(dir);
  c.snapshot_s = median(snap);
  c.write_s = median(write);
  c.verify_s = median(verify);
  c.read_s = median(read);
  return c;
}

// Seconds per step of `steps` training steps of a small model, checkpointing every `every`.
double step_seconds(dist::communicator& comm, const fs::path& dir, int steps, int every) {
  auto cfg = make_config("resnet18", 16, 1024, 64, every);
  cfg.apply_override(fmt::format("train.max_steps={}", steps));
  torch::manual_seed(1);
  auto v1 = torch::randn({256, 3, 48, 48}), v2 = torch::randn({256, 3, 48, 48});
  train::tensor_source src(v1, v2, 64 / comm.world());
  auto s =
      train::make_state(skyssl::train::run_options_from(cfg, comm), comm, 3, src.steps_per_epoch());
  fs::remove_all(dir);
  fs::create_directories(dir);
  const auto sum = train::train(s, src, comm, dir);
  fs::remove_all(dir);
  return sum.seconds / static_cast<double>(sum.steps);
}

}  // namespace

int main(int argc, char** argv) {
  keep_freed_memory();
  dist::runtime rt(&argc, &argv);
  CLI::App app{"bench_checkpoint: checkpoint size and time, and its cost per training step"};
  std::string dir = "bench-checkpoint";
  int steps = 60, every = 10, reps = 3;
  app.add_option("--dir", dir, "scratch directory (put it on the filesystem you will train on)")
      ->capture_default_str();
  app.add_option("--steps", steps, "training steps per timed run")->capture_default_str();
  app.add_option("--every", every, "checkpoint cadence of the timed runs, in steps")
      ->capture_default_str();
  app.add_option("--reps", reps, "repetitions (medians are reported)")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    if (steps < 2 || every < 1 || reps < 1)
      throw config_error("bench_checkpoint: --steps >= 2, --every >= 1 and --reps >= 1");
    auto comm = dist::make_communicator(rt.world() > 1 ? "mpi" : "local");
    const fs::path root = fs::path(dir) / fmt::format("rank{}", comm->rank());
    log::info("== checkpoint size and time (ResNet width 64, K 65536, dim 128, 3 bands; {})", dir);
    log::info("{:<10} {:>9} {:>12} {:>10} {:>10} {:>9} {:>9}", "model", "MB", "snapshot s",
              "write s", "write MB/s", "verify s", "read s");
    double snapshot50 = 0;
    // Sizes and write times are rank 0's business: measured on one rank only.
    for (const char* arch : {"resnet18", "resnet50"}) {
      if (comm->world() > 1) break;
      const auto c = measure_checkpoint(arch, *comm, root / "size", reps);
      if (std::string(arch) == "resnet50") snapshot50 = c.snapshot_s;
      log::info("{:<10} {:>9.1f} {:>12.3f} {:>10.3f} {:>10.0f} {:>9.3f} {:>9.3f}", arch, c.mb,
                c.snapshot_s, c.write_s, c.mb / c.write_s, c.verify_s, c.read_s);
    }
    log::info("== step time, ResNet-18 width 16, batch 64 at 48 px, {} steps, {} reps interleaved",
              steps, reps);
    std::vector<double> none, with;
    for (int r = 0; r < reps; ++r) {
      none.push_back(step_seconds(*comm, root / "none", steps, 0));
      with.push_back(step_seconds(*comm, root / "with", steps, every));
    }
    const double a = median(none), b = median(with);
    log::info("no checkpoints (the final one only)   {:.1f} ms/step", 1e3 * a);
    log::info("a checkpoint every {:<4} steps         {:.1f} ms/step  ({:+.2f}%)", every, 1e3 * b,
              100.0 * (b - a) / a);
    if (snapshot50 > 0)
      log::info(
          "default cadence (every 30 min): ResNet-50 snapshot {:.3f} s on the training thread "
          "per 30 min = {:.4f}% of training time (the write runs on a background thread)",
          snapshot50, 100.0 * snapshot50 / 1800.0);
    auto flags = torch::zeros({4}, torch::kFloat64);
    const int n = 2000;
    comm->barrier();
    const auto t0 = clock_type::now();
    for (int i = 0; i < n; ++i) comm->all_reduce_sum(flags);
    log::info("stop agreement (4-number all-reduce, {} ranks): {:.1f} us per step", comm->world(),
              1e6 * since(t0) / n);
    fs::remove_all(root);
    return 0;
  } catch (const std::exception& e) {
    log::error("bench_checkpoint: {}", e.what());
    return 1;
  }
}
