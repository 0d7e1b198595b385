// Question: is the input pipeline hidden behind compute, and what does MoCo cost over a plain
// training loop? One training step timed three ways, same model and batch, in one run:
//   A  skyssl-train's step fed by the real pipeline (shard_reader + augmentation thread)
//   B  the same step fed from views already in memory (tensor_source through the pipeline)
//   C  a plain LibTorch loop: forward/backward/SGD of the query ResNet with a simple loss
// A/B ~ 1 means the pipeline is hidden; B/C is the price of MoCo (key encoder, queue, shuffle).
//   bench_train_step --archive example/survey.h5 [--set model.width=16 ...]
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <torch/torch.h>

#include <chrono>

#include "kernels/kokkos_runtime.hpp"
#include "skyssl/core/allocator.hpp"
#include "skyssl/core/config.hpp"
#include "skyssl/dist/communicator.hpp"
#include "skyssl/train/archive_source.hpp"
#include "skyssl/train/presets.hpp"
#include "skyssl/train/trainer.hpp"

using namespace skyssl;
using clock_type = std::chrono::steady_clock;

namespace {

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

// Mean seconds per step of `steps` steps of `src` after `warm` unmeasured ones.
double time_moco(train::train_state& s, train::view_source& src, int warm, int steps,
                 double* wait) {
  train::pipeline pipe(src, 0, 0, warm + steps, static_cast<int>(s.opts.prefetch));
  clock_type::time_point t0;
  double w0 = 0;
  for (int i = 0; i < warm + steps; ++i) {
    if (i == warm) {
      t0 = clock_type::now();
      w0 = pipe.wait_seconds();
    }
    auto b = pipe.next();
    s.moco->train_step(b.view1, b.view2, b.epoch, b.step, *s.optimizer);
  }
  *wait = (pipe.wait_seconds() - w0) / steps;
  return seconds_since(t0) / steps;
}

}  // namespace

int main(int argc, char** argv) {
  keep_freed_memory();  // as skyssl-train does
  dist::runtime rt(&argc, &argv);
  CLI::App app{"bench_train_step: real pipeline vs in-memory input vs plain LibTorch loop"};
  std::string archive, preset = "example";
  std::vector<std::string> sets;
  int warm = 3, steps = 10;
  app.add_option("--archive", archive, "survey archive (skyssl-prep synth ...)")->required();
  app.add_option("--preset", preset, "config preset")->capture_default_str();
  app.add_option("--set", sets, "config override (repeatable)")->allow_extra_args(false);
  app.add_option("--warmup", warm, "unmeasured steps")->capture_default_str();
  app.add_option("--steps", steps, "measured steps")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    kernels::kokkos_scope kokkos;
    auto cfg = config::from_string(train::preset_text(preset), preset);
    cfg.apply_override("data.path=\"" + archive + "\"");
    for (const auto& s : sets) cfg.apply_override(s);
    auto comm = dist::make_communicator("local");

    const auto topts = train::train_options_from(cfg, "train");
    train::archive_source real(cfg, topts.seed, topts.global_batch, 0, 1);
    auto state = train::make_state(cfg, *comm, real.channels(), real.steps_per_epoch());
    const auto B = state.moco->local_batch();
    fmt::print("model {} width {}, batch {}, bn_group {}, K {}, {} torch threads\n",
               cfg.get_string("model.arch", ""), state.model_opts.width, B, state.moco->bn_group(),
               state.moco_opts.K, torch::get_num_threads());

    // Augmentation alone: what the pipeline thread must hide.
    auto t_aug0 = clock_type::now();
    real.start(0, 0);
    train::view_batch first = real.next();
    const int aug_n = 3;
    for (int i = 1; i < aug_n; ++i) real.next();
    const double aug_s = seconds_since(t_aug0) / aug_n;

    double wait_a = 0, wait_b = 0;
    const double a = time_moco(state, real, warm, steps, &wait_a);
    train::tensor_source mem(first.view1.clone(), first.view2.clone(), B);
    const double b = time_moco(state, mem, warm, steps, &wait_b);

    // C: plain loop on the same model and batch.
    auto& net = state.moco->encoder_q();
    torch::optim::SGD opt(net->parameters(), torch::optim::SGDOptions(0.01).momentum(0.9));
    auto x = first.view1.clone();
    clock_type::time_point t0;
    for (int i = 0; i < warm + steps; ++i) {
      if (i == warm) t0 = clock_type::now();
      opt.zero_grad();
      auto loss = net->forward(x).pow(2).mean();
      loss.backward();
      opt.step();
    }
    const double c = seconds_since(t0) / steps;

    fmt::print("read+augment one batch (pipeline thread)   {:8.1f} ms\n", 1e3 * aug_s);
    fmt::print("A  MoCo step, real pipeline               {:8.1f} ms  (waited {:.1f} ms/step)\n",
               1e3 * a, 1e3 * wait_a);
    fmt::print("B  MoCo step, views in memory             {:8.1f} ms  (waited {:.1f} ms/step)\n",
               1e3 * b, 1e3 * wait_b);
    fmt::print("C  plain LibTorch fwd/bwd/SGD, no pipeline {:8.1f} ms\n", 1e3 * c);
    fmt::print("A/B = {:.2f}  (1.00: input pipeline fully hidden)\n", a / b);
    fmt::print("B/C = {:.2f}  (cost of MoCo's key encoder, queue and shuffle over a plain step)\n",
               b / c);
    fmt::print("A/C = {:.2f}\n", a / c);
  } catch (const std::exception& e) {  // bad archive, config or option: one line, exit 1
    fmt::print(stderr, "bench_train_step: {}\n", e.what());
    return 1;
  }
  return 0;
}
