// Question: is the input pipeline hidden behind compute, and what does MoCo cost over a plain
// training loop? One training step timed three ways, same model and batch, in one run:
//   A  skyssl-train's step fed by the real pipeline (shard_reader + augmentation thread)
//   B  the same step fed from views already in memory (tensor_source through the pipeline)
//   C  a plain LibTorch loop: forward/backward/SGD of the query ResNet with a simple loss
// A/B ~ 1 means the pipeline is hidden; B/C is the price of MoCo (key encoder, queue, shuffle).
// Also: where B's step time goes (the trainer's phase breakdown) and what the phase timers
// themselves cost per step. --json FILE writes the figures for scripts/bench.sh.
//   bench_train_step --archive example/survey.h5 [--set model.width=16 ...] [--json out.json]
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

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

// Mean seconds per step of `steps` steps of `src` after `warm` unmeasured ones; the engine's
// phase times summed over the measured steps into *phases.
double time_moco(train::train_state& s, train::view_source& src, int warm, int steps, double* wait,
                 train::phase_times* phases) {
  src.set_key_views(s.moco_opts.shuffle_bn, s.moco_opts.seed);
  train::pipeline pipe(src, 0, 0, warm + steps, static_cast<int>(s.opts.prefetch));
  clock_type::time_point t0;
  double w0 = 0;
  for (int i = 0; i < warm + steps; ++i) {
    if (i == warm) {
      t0 = clock_type::now();
      w0 = pipe.wait_seconds();
    }
    auto b = pipe.next();
    const auto r = s.moco->train_step(b.view1, b.view2, b.epoch, b.step, *s.optimizer);
    if (i >= warm) phases->add(r.times);
  }
  *wait = (pipe.wait_seconds() - w0) / steps;
  return seconds_since(t0) / steps;
}

// The timing work the trainer adds to one step (the clock reads of train::train and the
// engine, and the phase sums), repeated: seconds per step.
double phase_timer_cost() {
  const int n = 200000;
  train::phase_times total;
  const auto t0 = clock_type::now();
  for (int i = 0; i < n; ++i) {
    train::phase_times ph;
    moco::step_times st;
    auto t = clock_type::now();
    double* slots[] = {&st.to_device, &st.query_forward, &st.key_path,  &st.loss,
                       &st.backward,  &st.grad_sync,     &st.optimizer, &st.enqueue};
    for (double* slot : slots) {
      const auto now = clock_type::now();
      *slot += std::chrono::duration<double>(now - t).count();
      t = now;
    }
    ph[train::phase::read_wait] = seconds_since(t);
    ph.add(st);
    ph[train::phase::other] = seconds_since(t) - ph.main_thread_sum();
    total += ph;
  }
  const double dt = seconds_since(t0) / n;
  if (total.s[0] < 0) std::puts("");  // keep the loop
  return dt;
}

}  // namespace

int main(int argc, char** argv) {
  keep_freed_memory();  // as skyssl-train does
  dist::runtime rt(&argc, &argv);
  CLI::App app{"bench_train_step: real pipeline vs in-memory input vs plain LibTorch loop"};
  std::string archive, preset = "example";
  std::vector<std::string> sets;
  int warm = 3, steps = 10;
  std::string json_path;
  app.add_option("--archive", archive, "survey archive (skyssl-prep synth ...)")->required();
  app.add_option("--preset", preset, "config preset")->capture_default_str();
  app.add_option("--set", sets, "config override (repeatable)")->allow_extra_args(false);
  app.add_option("--warmup", warm, "unmeasured steps")->capture_default_str();
  app.add_option("--steps", steps, "measured steps")->capture_default_str();
  app.add_option("--json", json_path, "also write the figures to this JSON file");
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
    train::phase_times ph_a, ph_b;
    const double a = time_moco(state, real, warm, steps, &wait_a, &ph_a);
    train::tensor_source mem(first.view1.clone(), first.view2.clone(), B);
    const double b = time_moco(state, mem, warm, steps, &wait_b, &ph_b);

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
    // C again after B: background load on a shared machine drifts; B/C uses the mean of both.
    const double c2 = [&] {
      const auto t1 = clock_type::now();
      for (int i = 0; i < steps; ++i) {
        opt.zero_grad();
        auto loss = net->forward(x).pow(2).mean();
        loss.backward();
        opt.step();
      }
      return seconds_since(t1) / steps;
    }();
    const double b2 = time_moco(state, mem, 1, steps, &wait_b, &ph_b);
    const double bm = 0.5 * (b + b2), cm = 0.5 * (c + c2);
    const double timer_s = phase_timer_cost();

    fmt::print("read+augment one batch (pipeline thread)   {:8.1f} ms\n", 1e3 * aug_s);
    fmt::print("A  MoCo step, real pipeline               {:8.1f} ms  (waited {:.1f} ms/step)\n",
               1e3 * a, 1e3 * wait_a);
    fmt::print("B  MoCo step, views in memory             {:8.1f} ms  (waited {:.1f} ms/step)\n",
               1e3 * b, 1e3 * wait_b);
    fmt::print("C  plain LibTorch fwd/bwd/SGD, no pipeline {:8.1f} ms\n", 1e3 * c);
    fmt::print("B, C again (interleaved)                   {:8.1f} {:8.1f} ms\n", 1e3 * b2,
               1e3 * c2);
    fmt::print("A/B = {:.2f}  (1.00: input pipeline fully hidden)\n", a / bm);
    fmt::print(
        "B/C = {:.2f}  (cost of MoCo's key encoder, queue and shuffle over a plain step; "
        "means of both runs)\n",
        bm / cm);
    fmt::print("A/C = {:.2f}\n", a / cm);
    const double nb = 2.0 * steps;  // ph_b holds both B runs
    fmt::print("B per step:");
    for (int k = 0; k < train::main_thread_phases - 1; ++k) {
      const double v = ph_b.s[static_cast<std::size_t>(k)] / nb;
      if (v > 0) fmt::print(" {} {:.1f} ms", train::phase_name(k), 1e3 * v);
    }
    fmt::print("\nphase timers: {:.2f} us per step = {:.4f}% of B's step\n", 1e6 * timer_s,
               100.0 * timer_s / bm);
    if (!json_path.empty()) {
      nlohmann::json j = {{"a_ms", 1e3 * a},
                          {"b_ms", 1e3 * bm},
                          {"c_ms", 1e3 * cm},
                          {"augment_ms", 1e3 * aug_s},
                          {"a_over_b", a / bm},
                          {"b_over_c", bm / cm},
                          {"timer_us", 1e6 * timer_s},
                          {"timer_pct", 100.0 * timer_s / bm},
                          {"batch", B},
                          {"width", state.model_opts.width}};
      nlohmann::json ph = nlohmann::json::object();
      for (int k = 0; k < train::main_thread_phases - 1; ++k)
        ph[train::phase_name(k)] = 1e3 * ph_b.s[static_cast<std::size_t>(k)] / nb;
      j["b_phases_ms"] = ph;
      std::ofstream(json_path) << j.dump(2) << "\n";
    }
  } catch (const std::exception& e) {  // bad archive, config or option: one line, exit 1
    fmt::print(stderr, "bench_train_step: {}\n", e.what());
    return 1;
  }
  return 0;
}
