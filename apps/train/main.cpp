// skyssl-train: MoCo v2 pre-training on a survey archive, on one rank or under mpiexec/srun.
//   skyssl-train --preset example --run-dir runs/ex --set train.epochs=2
// Config = preset (optional) < --config file (optional) < --set overrides, in that order.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <filesystem>
#include <fstream>
#include <iostream>

#include "kernels/kokkos_runtime.hpp"
#include "skyssl/core/allocator.hpp"
#include "skyssl/core/config.hpp"
#include "skyssl/core/error.hpp"
#include "skyssl/core/log.hpp"
#include "skyssl/dist/communicator.hpp"
#include "skyssl/train/archive_source.hpp"
#include "skyssl/train/evaluate.hpp"
#include "skyssl/train/metrics.hpp"
#include "skyssl/train/presets.hpp"
#include "skyssl/train/trainer.hpp"

namespace fs = std::filesystem;
using namespace skyssl;

namespace {

struct cli_args {
  std::string config_file, preset, run_dir = "run";
  std::vector<std::string> overrides;
  bool print_config = false;
};

config resolve_config(const cli_args& a) {
  config cfg;
  if (!a.preset.empty()) cfg = config::from_string(train::preset_text(a.preset), a.preset);
  if (!a.config_file.empty()) cfg.merge_over(config::from_file(a.config_file));
  for (const auto& o : a.overrides) cfg.apply_override(o);
  return cfg;
}

void write_text(const fs::path& p, const std::string& text) {
  std::ofstream out(p);
  out << text;
  if (!out) throw error(fmt::format("cannot write '{}'", p.string()));
}

int run(const cli_args& a, config cfg, dist::communicator& comm) {
  const fs::path run_dir = a.run_dir;
  if (comm.rank() == 0) fs::create_directories(run_dir);
  comm.barrier();

  const auto topts = train::train_options_from(cfg, "train");
  train::archive_source source(cfg, topts.seed, topts.global_batch, comm.rank(), comm.world());
  auto state = train::make_state(cfg, comm, source.channels(), source.steps_per_epoch());
  const auto eopts = train::eval_options_from(cfg, "eval");
  // Every key has been read by now: anything left is a typo or a key of another tool.
  cfg.reject_unread();
  state.cfg = cfg;
  if (comm.rank() == 0) write_text(run_dir / "config.toml", cfg.to_toml());
  if (a.print_config) {
    if (comm.rank() == 0) std::cout << cfg.to_toml();
    return 0;
  }
  log::info("skyssl-train: {} ranks ({}), {} bands, run dir {}", comm.world(), comm.backend(),
            source.channels(), run_dir.string());

  const auto summary = train::train(state, source, comm, run_dir);
  log::info("trained {} steps in {} ({:.1f}% of it waiting for input); loss {:.4f} -> {:.4f}",
            summary.steps, train::format_duration(summary.seconds),
            summary.seconds > 0 ? 100.0 * summary.wait_seconds / summary.seconds : 0.0,
            summary.first_loss, summary.last_loss);
  train::save_weights(state, comm, run_dir);
  if (eopts.enabled) {
    const std::int64_t steps = (eopts.count + topts.global_batch - 1) / topts.global_batch;
    // An epoch number training never reaches: fresh sample order and fresh augmentations.
    const auto views = source.eval(1 << 30, steps);
    train::evaluate(state.moco->encoder_q(), views, comm, run_dir);
  }
  comm.barrier();
  log::info("outputs in {}: config.toml metrics.jsonl weights.pt queue.pt{}", run_dir.string(),
            eopts.enabled ? " eval.json embeddings.pt" : "");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  keep_freed_memory();  // LibTorch's per-step temporaries: no page faults every step
  dist::runtime rt(&argc, &argv);
  CLI::App app{"skyssl-train: MoCo v2 self-supervised pre-training on galaxy images"};
  cli_args a;
  app.add_option("--config", a.config_file, "TOML config file (merged over --preset)");
  app.add_option("--preset", a.preset,
                 "built-in config: " + fmt::format("{}", fmt::join(train::preset_names(), ", ")));
  app.add_option("--set", a.overrides, "override one key, section.key=value (repeatable)")
      ->allow_extra_args(false);
  app.add_option("--run-dir", a.run_dir, "output directory (config, metrics, weights)");
  app.add_flag("--print-config", a.print_config, "print the resolved config and exit");
  CLI11_PARSE(app, argc, argv);

  std::unique_ptr<dist::communicator> comm;
  try {
    kernels::kokkos_scope kokkos;
    // The backend is chosen before the rest of the config is validated, so that a config error
    // can still take every rank down through the communicator.
    config cfg = resolve_config(a);
    comm = dist::make_communicator(dist::options::from_config(cfg));
    return run(a, std::move(cfg), *comm);
  } catch (const std::exception& e) {
    const std::string msg = fmt::format("skyssl-train: {}", e.what());
    if (comm && comm->world() > 1) comm->abort(msg, 1);
    log::error("{}", msg);
    return 1;
  }
}
