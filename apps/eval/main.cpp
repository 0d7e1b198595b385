// skyssl-eval: what a trained encoder knows, on frozen embeddings. Probes (linear, k-NN,
// photo-z head), label-count curves, self-retrieval under augmentation, and the baselines
// (random-init encoder, raw pixels, the same ResNet trained supervised from scratch, trivial
// predictors) on the same splits; writes
// eval.json and points.json (for scripts/plot_eval.py) and prints the table.
//   skyssl-eval --run-dir runs/ex                       (embeds into RUN/embeddings.h5 first)
//   skyssl-eval --embeddings emb.h5 [--run-dir runs/ex] [--class-field morphology]
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "apps/common/tool_main.hpp"
#include "apps/common/config_flags.hpp"
#include "kernels/kokkos_runtime.hpp"
#include "skyssl/core/allocator.hpp"
#include "skyssl/core/stop_signals.hpp"
#include "skyssl/core/config.hpp"
#include "skyssl/core/log.hpp"
#include "skyssl/dist/communicator.hpp"
#include "skyssl/eval/evaluation.hpp"
#include "skyssl/embed/trained_encoder.hpp"
#include "skyssl/dist/runtime.hpp"

using namespace skyssl;

int main(int argc, char** argv) {
  keep_freed_memory();  // embedding batches: no page faults on every batch
  dist::runtime rt(&argc, &argv);
  stop_cleanly_on_signals(
      "skyssl-eval: stopped by a signal; eval.json was not written (the run's embedding file "
      "keeps its finished chunks): run the same command to resume");
  CLI::App app{"skyssl-eval: probes, curves, self-retrieval and baselines on frozen embeddings"};
  config_sources sources;
  eval::evaluation_options o;
  // The library's messages name these flags and the command that embeds.
  o.names.run_dir = "--run-dir";
  o.names.embeddings = "--embeddings";
  o.names.features = "--features";
  o.names.class_field = "--class-field";
  o.names.z_field = "--z-field";
  o.names.embed_run = "skyssl-embed --run-dir";
  o.names.embed_archive = "skyssl-embed --set data.path=...";
  apps::add_config_flags(app, sources);
  app.add_option("--run-dir", o.run_dir, "run directory written by skyssl-train");
  app.add_option("--embeddings", o.embeddings, "embedding file written by skyssl-embed");
  app.add_option("--features", o.features, "which embedding: backbone (default) or projection")
      ->check(CLI::IsMember({"backbone", "projection"}));
  app.add_option("--out-dir", o.out_dir, "where eval.json goes (default RUN/eval)");
  auto* cls = app.add_option("--class-field", o.class_field.name,
                             "class label field (default morphology, when present)");
  auto* zf =
      app.add_option("--z-field", o.z_field.name, "redshift field (default z_spec, when present)");
  app.add_option("--test-fraction", o.probes.split.test_fraction, "share of labelled rows tested")
      ->check(CLI::Range(0.01, 0.99));
  app.add_option("--test-count", o.probes.split.test_count, "test rows (overrides the fraction)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--label-counts", o.probes.label_counts,
                 "training-label counts of the curves (all is always added)")
      ->delimiter(',');
  app.add_option("--k", o.probes.k, "k-NN neighbours")->check(CLI::PositiveNumber);
  app.add_option("--l2", o.probes.logistic.l2, "L2 penalty of the linear probe and photo-z head")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--retrieval-count", o.retrieval_count, "galaxies in the self-retrieval test")
      ->check(CLI::Range(2, 1 << 20));
  app.add_option("--pixel-components", o.pixel_components, "PCA components of the pixel baseline")
      ->check(CLI::PositiveNumber);
  app.add_option("--chunk", o.chunk, "galaxies per forward pass")->check(CLI::PositiveNumber);
  app.add_flag("!--no-random-init", o.random_init, "skip the random-init encoder baseline");
  app.add_flag("!--no-pixels", o.pixels, "skip the raw-pixel baseline");
  app.add_flag("!--no-retrieval", o.retrieval, "skip self-retrieval");
  bool supervised = true;
  app.add_flag("!--no-supervised", supervised,
               "skip the supervised baseline (same as --set eval.supervised_epochs=0)");
  CLI11_PARSE(app, argc, argv);
  o.class_field.required = cls->count() > 0;
  o.z_field.required = zf->count() > 0;
  if (rt.world() > 1) {
    if (rt.rank() == 0)
      log::error("skyssl-eval runs on one rank; embed on many with mpiexec skyssl-embed first");
    return 2;
  }
  std::unique_ptr<dist::communicator> comm;
  return apps::guarded_main("skyssl-eval", comm, [&] {
    kernels::kokkos_scope kokkos;
    const config over = resolve_config(sources);
    const config cfg = o.run_dir.empty() ? over : embed::run_config(o.run_dir, over);
    o.probes.split.seed = embed::run_seed(cfg);
    o.supervised = eval::supervised_options_from(cfg, "eval");
    if (!supervised) o.supervised.epochs = 0;
    const auto report = eval::run_evaluation(cfg, o);
    fmt::print("{}", report.table());
    return 0;
  });
}
