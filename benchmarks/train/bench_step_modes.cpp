// Question: inside a real multi-rank training step, which gradient synchronisation is faster
// (bucketed all-reduces overlapped with backward, or one flat all-reduce after it), what does
// the collective watchdog cost, and what does shuffle_bn = local save over gather? Run under
// mpiexec -n 2 (or more). Each variant is a full train_state fed by the real pipeline (shard
// reader + augmentation thread); variants run in turn, `--rounds` times, and the median over
// rounds of the slowest rank's mean step time is reported, with the bytes each variant's key
// path receives per rank and step.
//   mpiexec -n 2 bench_step_modes --archive example/survey.h5 [--set ...] [--json out.json]
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <torch/optim/sgd.h>
#include <torch/types.h>

#include <algorithm>
#include <chrono>
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

struct variant {
  std::string name;
  std::vector<std::string> sets;
  std::unique_ptr<train::archive_source> source;
  train::train_state state;
  std::vector<double> step_s;  // one per round
  train::phase_times phases;
  std::int64_t position = 0;  // steps run so far (the pipeline continues from here)
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  keep_freed_memory();
  dist::runtime rt(&argc, &argv);
  CLI::App app{"bench_step_modes: gradient sync, watchdog and shuffle BN modes in a real step"};
  std::string archive, preset = "example", json_path;
  std::vector<std::string> sets;
  int warm = 2, steps = 6, rounds = 3;
  app.add_option("--archive", archive, "survey archive (skyssl-prep synth ...)")->required();
  app.add_option("--preset", preset, "config preset")->capture_default_str();
  app.add_option("--set", sets, "config override (repeatable)")->allow_extra_args(false);
  app.add_option("--warmup", warm, "unmeasured steps per variant")->capture_default_str();
  app.add_option("--steps", steps, "measured steps per variant and round")->capture_default_str();
  app.add_option("--rounds", rounds, "rounds over all variants")->capture_default_str();
  app.add_option("--json", json_path, "also write the figures to this JSON file");
  CLI11_PARSE(app, argc, argv);
  std::unique_ptr<dist::communicator> comm;
  try {
    kernels::kokkos_scope kokkos;
    comm = dist::make_communicator("mpi");
    const int R = comm->world();
    std::vector<variant> vs(4);
    vs[0].name = "gather, flat all-reduce";
    vs[0].sets = {"moco.shuffle_bn=gather", "dist.grad_sync=flat"};
    vs[1].name = "gather, bucketed all-reduce";
    vs[1].sets = {"moco.shuffle_bn=gather", "dist.grad_sync=bucketed"};
    vs[2].name = "gather, flat, watchdog on";
    vs[2].sets = {"moco.shuffle_bn=gather", "dist.grad_sync=flat", "dist.timeout_s=600"};
    vs[3].name = "local, flat all-reduce";
    vs[3].sets = {"moco.shuffle_bn=local", "dist.grad_sync=flat"};
    std::int64_t B = 0, G = 0, C = 0, h = 0, w = 0, dim = 0;
    for (auto& v : vs) {
      auto cfg = config::from_string(preset_text(preset), preset);
      cfg.apply_override("data.path=\"" + archive + "\"");
      cfg.apply_override("checkpoint.every_minutes=0");
      for (const auto& s : sets) cfg.apply_override(s);
      for (const auto& s : v.sets) cfg.apply_override(s);
      const auto topts = train::train_options_from(cfg, "train");
      v.source = std::make_unique<train::archive_source>(cfg, topts.seed, topts.global_batch,
                                                         comm->rank(), R);
      v.state = train::make_state(skyssl::train::run_options_from(cfg, *comm), *comm,
                                  v.source->channels(), v.source->steps_per_epoch());
      comm->set_timeout(dist::dist_options_from(cfg).timeout_s);
      v.source->set_key_views(v.state.moco_opts.shuffle_bn, v.state.moco_opts.seed);
      B = v.state.moco->local_batch();
      G = v.state.moco->global_batch();
      C = v.source->channels();
      h = v.source->augment().crop_h;
      w = v.source->augment().crop_w;
      dim = v.state.moco_opts.dim;
    }
    for (int round = 0; round < rounds; ++round) {
      for (auto& v : vs) {
        comm->set_timeout(v.name.find("watchdog") != std::string::npos ? 600.0 : 0.0);
        const int n = (round == 0 ? warm : 0) + steps;
        train::pipeline pipe(*v.source, 0, v.position % v.source->steps_per_epoch(), n,
                             static_cast<int>(v.state.opts.prefetch));
        comm->barrier();
        clock_type::time_point t0 = clock_type::now();
        for (int i = 0; i < n; ++i) {
          if (i == n - steps) {
            comm->barrier();
            t0 = clock_type::now();
          }
          auto b = pipe.next();
          const auto r =
              v.state.moco->train_step(b.view1, b.view2, b.epoch, b.step, *v.state.optimizer);
          if (i >= n - steps) v.phases.add(r.times);
        }
        double dt = std::chrono::duration<double>(clock_type::now() - t0).count() / steps;
        auto t = torch::tensor({dt}, torch::kFloat64);
        // The slowest rank's time: sum of one-hot maxima is not available, so gather all.
        auto all = comm->all_gather(t);
        dt = all.max().item<double>();
        v.step_s.push_back(dt);
        v.position += n;
      }
    }
    comm->set_timeout(0);
    // Bytes a rank receives per step on the key path (images for gather, keys for both).
    const double img_bytes = static_cast<double>((G - B) * C * h * w * 4);
    const double key_bytes = static_cast<double>((G - B) * dim * 4);
    if (comm->rank() == 0) {
      fmt::print("{} ranks, local batch {}, global {}, views {}x{}x{}, {} steps x {} rounds\n", R,
                 B, G, C, h, w, steps, rounds);
      fmt::print("{:<30} {:>10} {:>10} {:>10} {:>10} {:>14}\n", "variant", "step ms", "key ms",
                 "bwd ms", "sync ms", "key path recv");
      nlohmann::json j = nlohmann::json::object();
      j["ranks"] = R;
      j["local_batch"] = B;
      for (const auto& v : vs) {
        const double n = static_cast<double>(steps * rounds);
        const double recv = v.name.rfind("local", 0) == 0 ? key_bytes : img_bytes + key_bytes;
        fmt::print("{:<30} {:>10.1f} {:>10.1f} {:>10.1f} {:>10.1f} {:>11.2f} MB\n", v.name,
                   1e3 * median(v.step_s), 1e3 * v.phases[train::phase::key_path] / n,
                   1e3 * v.phases[train::phase::backward] / n,
                   1e3 * v.phases[train::phase::grad_sync] / n, recv / 1e6);
        j["variants"][v.name] = {{"step_ms", 1e3 * median(v.step_s)},
                                 {"key_path_ms", 1e3 * v.phases[train::phase::key_path] / n},
                                 {"backward_ms", 1e3 * v.phases[train::phase::backward] / n},
                                 {"grad_sync_ms", 1e3 * v.phases[train::phase::grad_sync] / n},
                                 {"key_path_recv_bytes", recv}};
      }
      auto ms = [&](int k) { return median(vs[static_cast<std::size_t>(k)].step_s); };
      fmt::print("bucketed / flat = {:.3f}  (the default dist.grad_sync should be the smaller)\n",
                 ms(1) / ms(0));
      fmt::print("watchdog on / off = {:.3f}  (target <= 1.05)\n", ms(2) / ms(0));
      fmt::print(
          "local / gather = {:.3f}  (shuffle_bn; key path receives {:.2f} MB instead of "
          "{:.2f} MB)\n",
          ms(3) / ms(0), key_bytes / 1e6, (img_bytes + key_bytes) / 1e6);
      j["bucketed_over_flat"] = ms(1) / ms(0);
      j["watchdog_over_off"] = ms(2) / ms(0);
      j["local_over_gather"] = ms(3) / ms(0);
      if (!json_path.empty()) std::ofstream(json_path) << j.dump(2) << "\n";
    }
  } catch (const std::exception& e) {
    const std::string msg = fmt::format("bench_step_modes: {}", e.what());
    if (comm && comm->world() > 1) comm->abort(msg, 1);
    fmt::print(stderr, "{}\n", msg);
    return 1;
  }
  return 0;
}
