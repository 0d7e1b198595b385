// skyssl-train: MoCo v2 pre-training on a survey archive, on one rank or under mpiexec/srun.
//   skyssl-train --preset example --run-dir runs/ex --set train.epochs=2
// Config = preset (optional) < --config file (optional) < --set overrides, in that order.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>

#include "apps/common/tool_main.hpp"
#include <unistd.h>

#include "apps/common/config_flags.hpp"
#include "kernels/kokkos_runtime.hpp"
#include "skyssl/core/allocator.hpp"
#include "skyssl/core/config.hpp"
#include "skyssl/core/error.hpp"
#include "skyssl/core/log.hpp"
#include "skyssl/dist/communicator.hpp"
#include "skyssl/dist/consistency.hpp"
#include "skyssl/dist/device.hpp"
#include "skyssl/train/archive_source.hpp"
#include "skyssl/train/checkpoint.hpp"
#include "skyssl/train/device_plan.hpp"
#include "skyssl/core/durable_file.hpp"
#include "skyssl/eval/training_eval.hpp"
#include "skyssl/train/metrics.hpp"
#include "skyssl/core/presets.hpp"
#include "skyssl/train/run_dir.hpp"
#include "skyssl/train/state_io.hpp"
#include "skyssl/train/stop_signals.hpp"
#include "skyssl/train/trainer.hpp"
#include "skyssl/dist/runtime.hpp"
#include "skyssl/dist/make_communicator.hpp"

namespace fs = std::filesystem;
using namespace skyssl;

namespace {

struct cli_args {
  config_sources sources;
  std::string run_dir = "run", resume = "auto";
  bool print_config = false;
};

// Rank 0's value on every rank.
std::int64_t broadcast_value(dist::communicator& comm, std::int64_t v) {
  auto t = torch::tensor({v}, torch::kInt64);
  if (comm.backend() == "nccl") t = t.to(torch::kCUDA);
  comm.broadcast(t, 0);
  return t.cpu().item<std::int64_t>();
}

// Every rank says where it runs: host, node-local rank, ranks on its node, and the number of
// nodes (ranks with local rank 0), so that a multi-node placement can be checked from the log.
void report_placement(dist::communicator& comm) {
  char host[256] = "?";
  if (gethostname(host, sizeof host - 1) != 0) host[0] = '?';
  const int local = dist::local_rank();
  auto leaders = torch::tensor({static_cast<std::int64_t>(local == 0)}, torch::kInt64);
  if (comm.backend() == "nccl") leaders = leaders.to(torch::kCUDA);
  comm.all_reduce_sum(leaders);
  log::all("rank {} of {} on host {}: local rank {} of {} on this node, {} node(s)", comm.rank(),
           comm.world(), host, local, dist::ranks_on_node(), leaders.cpu().item<std::int64_t>());
}

// Which checkpoint to continue from: decided by rank 0 (it alone verifies and cleans up), the
// same on every rank. Empty: a new run.
std::optional<fs::path> find_resume_point(const cli_args& a, const fs::path& run_dir,
                                          dist::communicator& comm) {
  const fs::path root = train::checkpoints_dir(run_dir);
  std::int64_t chosen = -1;  // a step of run_dir's checkpoints, or -2: the --resume PATH
  if (comm.rank() == 0) {
    if (a.resume == "never") {
      const auto markers = train::run_markers(run_dir);
      if (!markers.empty())
        throw config_error(fmt::format(
            "run directory '{}' already holds a run ({}): continue it with --resume auto, or "
            "pass another --run-dir",
            run_dir.string(), fmt::join(markers, ", ")));
    } else if (a.resume == "auto") {
      const auto c = train::choose_checkpoint(root);
      for (const auto& r : c.rejected)
        log::warn("checkpoint {} is unusable, trying the previous one", (root / r).string());
      if (c.any && !c.chosen)
        throw checkpoint_error(fmt::format(
            "every checkpoint in '{}' is unusable ({}); nothing was changed. Move the directory "
            "aside to start over, or pass --resume PATH with a good copy",
            root.string(), fmt::join(c.rejected, "; ")));
      for (const auto& o : train::remove_orphans(root))
        log::warn("removed '{}' left by an interrupted checkpoint write", (root / o).string());
      if (c.chosen) chosen = c.step;
    } else {
      if (const auto bad = train::verify_checkpoint(a.resume); !bad.empty())
        throw checkpoint_error(
            fmt::format("--resume '{}' is not a usable checkpoint: {}", a.resume, bad));
      chosen = -2;
    }
  }
  chosen = broadcast_value(comm, chosen);
  if (chosen == -2) return fs::path(a.resume);
  if (chosen >= 0) return root / train::checkpoint_name(chosen);
  return std::nullopt;
}

// The checkpoint must come from a run this one can continue: same model, data, batch, seed...
void check_compatible(const config& cfg, const train::checkpoint_data& ck,
                      const train::train_state& state, const fs::path& dir) {
  auto diffs = train::incompatible_keys(cfg, ck.config_toml);
  if (ck.bn_group != state.moco->bn_group())
    diffs.push_back(fmt::format(
        "BatchNorm groups: checkpoint {} images, now {} (set moco.bn_group={}; it must divide "
        "the per-rank batch {})",
        ck.bn_group, state.moco->bn_group(), ck.bn_group, state.moco->local_batch()));
  if (!diffs.empty())
    throw checkpoint_error(fmt::format(
        "checkpoint '{}' belongs to another configuration: {}. Keys that may change on resume: "
        "{}; for a new run pass another --run-dir",
        dir.string(), fmt::join(diffs, "; "), fmt::join(train::resumable_keys(), " ")));
}

int run(const cli_args& a, config cfg, dist::communicator& comm) {
  const fs::path run_dir = a.run_dir;
  report_placement(comm);
  if (comm.rank() == 0) fs::create_directories(run_dir);
  comm.barrier();

  const auto resume_dir = find_resume_point(a, run_dir, comm);
  std::optional<train::checkpoint_data> ck;
  if (resume_dir) {
    ck = train::read_checkpoint(*resume_dir);
    // `skyssl-train --run-dir D` alone continues D with the config it was started with.
    if (a.sources.preset.empty() && a.sources.file.empty()) {
      cfg = config::from_string(ck->config_toml, (*resume_dir / "config.toml").string());
      for (const auto& o : a.sources.overrides) cfg.apply_override(o);
    }
    // bn_group 0 means "the per-rank batch": on another rank count keep the checkpoint's groups.
    if (ck->world != comm.world() && cfg.get_int("moco.bn_group", 0) == 0)
      cfg.apply_override(fmt::format("moco.bn_group={}", ck->bn_group));
  }

  // Every section read once, here. Device, precision and backend are checked together on every
  // rank before any device work; Kokkos starts on the rank's device (the index LibTorch and NCCL
  // use too).
  const auto opts = train::run_options_from(cfg, comm);
  const auto& topts = opts.train;
  kernels::ensure_initialized(opts.plan.cuda_index);
  train::archive_source source(cfg, topts.seed, topts.global_batch, comm.rank(), comm.world(),
                               &comm);
  auto state = train::make_state(opts, comm, source.channels(), source.steps_per_epoch());
  const auto& eopts = opts.train_eval;
  // Every key has been read by now: anything left is a typo or a key of another tool.
  cfg.reject_unread();
  state.cfg = cfg;
  if (a.print_config) {
    if (comm.rank() == 0) std::cout << cfg.to_toml();
    return 0;
  }
  std::string start_event;
  if (ck) {
    check_compatible(cfg, *ck, state, *resume_dir);
    train::restore_state(state, *ck, comm, resume_dir->string());
    dist::check_consistent(comm, state.moco->encoder_q()->parameters(), "resumed weights",
                           state.global_step);
    std::int64_t superseded = 0;
    if (comm.rank() == 0) superseded = train::trim_metrics(run_dir, ck->global_step);
    log::info("resuming from {} (step {}, epoch {} step {}; written by {} ranks){}",
              resume_dir->string(), ck->global_step, ck->epoch, ck->step, ck->world,
              superseded
                  ? fmt::format("; {} later records moved to metrics.superseded.jsonl", superseded)
                  : "");
    start_event = fmt::format(
        R"({{"event_step": {}, "checkpoint": "{}", "world": {}, "checkpoint_world": {}}})",
        ck->global_step, resume_dir->string(), comm.world(), ck->world);
    ck.reset();  // its host copy of the weights is no longer needed
  } else {
    // A run whose job died before its first checkpoint starts again from step 0.
    if (comm.rank() == 0 && train::trim_metrics(run_dir, 0) > 0)
      log::warn("no checkpoint in '{}': starting again from step 0", run_dir.string());
    start_event = fmt::format(R"({{"world": {}, "seed": {}, "steps_total": {}}})", comm.world(),
                              topts.seed, state.schedule.total_steps);
  }
  if (comm.rank() == 0) {
    replace_file(run_dir / "config.toml", cfg.to_toml());
    train::metrics_writer(run_dir, true).write_event(resume_dir ? "resume" : "start", start_event);
  }
  log::info("skyssl-train: {} ranks ({}), {} bands, run dir {}", comm.world(), comm.backend(),
            source.channels(), run_dir.string());

  if (state.global_step >= state.schedule.total_steps) {
    log::info("training already complete ({} steps); writing the outputs", state.global_step);
  } else {
    const auto summary = train::train(state, source, comm, run_dir);
    log::info("trained {} steps in {} ({:.1f}% of it waiting for input); {}", summary.steps,
              format_duration(summary.seconds),
              summary.seconds > 0 ? 100.0 * summary.wait_seconds / summary.seconds : 0.0,
              summary.first_loss_step > 0
                  ? fmt::format("loss {:.4f} at step {} (the first with a full queue) -> {:.4f}",
                                summary.first_loss, summary.first_loss_step, summary.last_loss)
                  : fmt::format("last loss {:.4f} (the queue never filled)", summary.last_loss));
    if (summary.stop_signal != 0) {
      const int code = train::exit_code_for_signal(summary.stop_signal);
      log::info("stopped by a signal after step {}; checkpoint {} written; exit {} ({})",
                state.global_step, train::checkpoint_name(state.global_step), code,
                code == train::exit_requeue ? "requeue me" : "interrupted");
      return code;
    }
  }
  train::save_weights(state, comm, run_dir);
  if (eopts.enabled) {
    const std::int64_t steps = (eopts.count + topts.global_batch - 1) / topts.global_batch;
    // An epoch number training never reaches: fresh sample order and fresh augmentations.
    const auto views = source.eval(1 << 30, steps);
    train::with_averaged_bn(state, [&] {
      eval::evaluate(state.moco->encoder_q(), {views.ids, views.center, views.view1, views.view2},
                     comm, run_dir);
    });
  }
  comm.barrier();
  log::info(
      "outputs in {}: config.toml metrics.jsonl checkpoints/ weights.safetensors weights.pt "
      "queue.pt{}",
      run_dir.string(), eopts.enabled ? " eval.json embeddings.pt" : "");
  return train::exit_done;
}

}  // namespace

int main(int argc, char** argv) {
  keep_freed_memory();  // LibTorch's per-step temporaries: no page faults every step
  dist::runtime rt(&argc, &argv);
  CLI::App app{"skyssl-train: MoCo v2 self-supervised pre-training on galaxy images"};
  cli_args a;
  apps::add_config_flags(app, a.sources);
  app.add_option("--run-dir", a.run_dir, "output directory (config, metrics, weights)");
  app.add_flag("--print-config", a.print_config, "print the resolved config and exit");
  app.add_option("--resume", a.resume,
                 "auto: continue from the newest good checkpoint in the run directory if there "
                 "is one (default); never: refuse a directory that holds a run; or a checkpoint "
                 "directory to continue from");
  CLI11_PARSE(app, argc, argv);

  train::install_stop_handlers();  // before anything slow: a signal during setup still counts
  std::unique_ptr<dist::communicator> comm;
  static_assert(train::exit_error == 1, "guarded_main exits 1 on an error");
  return apps::guarded_main("skyssl-train", comm, [&] {
    kernels::kokkos_scope kokkos(kernels::kokkos_scope::deferred);  // started on the device
    // The backend is chosen before the rest of the config is validated, so that a config error
    // can still take every rank down through the communicator. ([dist] is read here for it; a
    // resumed run may continue with its checkpoint's config, which run_options_from reads.)
    config cfg = resolve_config(a.sources);
    comm = dist::make_communicator(dist::dist_options_from(cfg));
    return run(a, std::move(cfg), *comm);
  });
}
