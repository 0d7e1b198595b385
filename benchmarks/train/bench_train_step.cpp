// Question: is the input pipeline hidden behind compute, and what does MoCo cost over a plain
// training loop? One training step timed three ways, same model and batch, in one run:
//   A  skyssl-train's step fed by the real pipeline (shard_reader + augmentation thread)
//   B  the same step fed from views already in memory (tensor_source through the pipeline)
//   C  a plain LibTorch loop: forward/backward/SGD of the query ResNet with a simple loss, in the
//      same BatchNorm groups as the MoCo step (moco.bn_group: the model's configuration, which
//      a plain run of it would use too); C0 the same on the whole batch at once
// A/B ~ 1 means the pipeline is hidden; B/C is the price of MoCo (key encoder, queue, shuffle):
// ~1.33 is the floor (the key encoder's forward). With bn_group = the batch, C = C0.
// Also: where B's step time goes (the trainer's phase breakdown) and what the phase timers
// themselves cost per step. --json FILE writes the figures for scripts/bench.sh.
//   bench_train_step --archive example/survey.h5 [--set model.width=16 ...] [--json out.json]
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <torch/types.h>
#include <torch/optim/sgd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "kernels/kokkos_runtime.hpp"
#include "skyssl/core/allocator.hpp"
#include "skyssl/core/config.hpp"
#include "skyssl/dist/communicator.hpp"
#include "skyssl/train/archive_source.hpp"
#include "skyssl/core/presets.hpp"
#include "skyssl/train/trainer.hpp"
#include "skyssl/dist/runtime.hpp"
#include "skyssl/dist/make_communicator.hpp"

using namespace skyssl;
using clock_type = std::chrono::steady_clock;

namespace {

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

// Mean seconds per step of `steps` steps of `src` after `warm` unmeasured ones; each measured
// step's seconds appended to *per_step, the engine's phase times summed into *phases.
double time_moco(train::train_state& s, train::view_source& src, int warm, int steps, double* wait,
                 train::phase_times* phases, std::vector<double>* per_step) {
  src.set_key_views(s.moco_opts.shuffle_bn, s.moco_opts.seed);
  train::pipeline pipe(src, 0, 0, warm + steps, static_cast<int>(s.opts.prefetch));
  clock_type::time_point t0;
  double w0 = 0;
  for (int i = 0; i < warm + steps; ++i) {
    if (i == warm) {
      t0 = clock_type::now();
      w0 = pipe.wait_seconds();
    }
    const auto t1 = clock_type::now();
    auto b = pipe.next();
    const auto r = s.moco->train_step(b.view1, b.view2, b.epoch, b.step, *s.optimizer);
    if (i >= warm) {
      phases->add(r.times);
      per_step->push_back(seconds_since(t1));
    }
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
    auto cfg = config::from_string(preset_text(preset), preset);
    cfg.apply_override("data.path=\"" + archive + "\"");
    for (const auto& s : sets) cfg.apply_override(s);
    auto comm = dist::make_communicator("local");

    const auto topts = train::train_options_from(cfg, "train");
    train::archive_source real(cfg, topts.seed, topts.global_batch, 0, 1);
    auto state = train::make_state(skyssl::train::run_options_from(cfg, *comm), *comm,
                                   real.channels(), real.steps_per_epoch());
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
    std::vector<double> st_a, st_b, st_c, st_c0;
    time_moco(state, real, warm, steps, &wait_a, &ph_a, &st_a);
    const double a = median(st_a);
    train::tensor_source mem(first.view1.clone(), first.view2.clone(), B);

    // C: plain loop on the same model, batch and BN groups; C0: the batch in one forward.
    auto& net = state.moco->encoder_q();
    torch::optim::SGD opt(net->parameters(), torch::optim::SGDOptions(0.01)
                                                 .momentum(state.opts.momentum)
                                                 .weight_decay(state.opts.weight_decay));
    auto x = first.view1.clone();
    const std::int64_t group = state.moco->bn_group();
    auto plain = [&](std::int64_t g, int n, std::vector<double>* per_step) {
      for (int i = 0; i < n; ++i) {
        const auto t1 = clock_type::now();
        opt.zero_grad();
        auto loss = moco::encode_chunked(net, x, g).pow(2).mean();
        loss.backward();
        opt.step();
        if (per_step) per_step->push_back(seconds_since(t1));
      }
    };
    plain(group, warm, nullptr);
    // B and C interleaved, three rounds: load from other processes on a shared machine drifts;
    // medians of the per-step times are reported.
    const int rounds = 3;
    for (int k = 0; k < rounds; ++k) {
      time_moco(state, mem, k == 0 ? warm : 1, steps, &wait_b, &ph_b, &st_b);
      plain(group, steps, &st_c);
    }
    plain(B, steps, &st_c0);
    const double b = median(st_b), c = median(st_c), c0 = median(st_c0);
    const double bm = b, cm = c;
    const double timer_s = phase_timer_cost();

    fmt::print("read+augment one batch (pipeline thread)   {:8.1f} ms\n", 1e3 * aug_s);
    fmt::print("A  MoCo step, real pipeline               {:8.1f} ms  (waited {:.1f} ms/step)\n",
               1e3 * a, 1e3 * wait_a);
    fmt::print("B  MoCo step, views in memory             {:8.1f} ms  (waited {:.1f} ms/step)\n",
               1e3 * b, 1e3 * wait_b);
    fmt::print("C  plain LibTorch fwd/bwd/SGD, no pipeline {:8.1f} ms  (BN groups of {})\n",
               1e3 * c, group);
    fmt::print("C0 the same, the batch in one forward      {:8.1f} ms\n", 1e3 * c0);
    fmt::print("A/B = {:.2f}  (1.00: input pipeline fully hidden)\n", a / bm);
    fmt::print(
        "B/C = {:.2f}  (cost of MoCo's key encoder, queue and shuffle over a plain step; "
        "medians of {} interleaved rounds)\n",
        bm / cm, rounds);
    fmt::print("A/C = {:.2f}   B/C0 = {:.2f}\n", a / cm, bm / c0);
    const double nb = static_cast<double>(rounds * steps);  // ph_b holds every B round
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
                          {"c0_ms", 1e3 * c0},
                          {"b_over_c0", bm / c0},
                          {"bn_group", group},
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
