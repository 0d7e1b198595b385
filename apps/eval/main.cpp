// skyssl-eval: what a trained encoder knows. Embeds an archive's centre crops with the weights
// of a run directory, then probes the frozen representations with k-NN for morphology and
// redshift, next to a randomly initialised encoder of the same shape and the trivial
// baselines, and optionally lists the nearest neighbours of chosen galaxies.
//   skyssl-eval --run-dir runs/ex [--archive other.h5] [--k 20] [--neighbours 3,17]
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "kernels/augment_config.hpp"
#include "kernels/kokkos_runtime.hpp"
#include "skyssl/core/allocator.hpp"
#include "skyssl/core/config.hpp"
#include "skyssl/core/error.hpp"
#include "skyssl/core/log.hpp"
#include "skyssl/data/options.hpp"
#include "skyssl/dist/communicator.hpp"
#include "skyssl/eval/embed_archive.hpp"
#include "skyssl/eval/knn_probe.hpp"
#include "skyssl/eval/similarity_index.hpp"
#include "skyssl/model/resnet.hpp"
#include "skyssl/model/weights.hpp"

namespace fs = std::filesystem;
using namespace skyssl;

namespace {

struct cli_args {
  std::string run_dir, archive;
  std::int64_t k = 20, limit = 0, chunk = 256;
  double train_fraction = 0.5;
  bool baseline = true;
  std::vector<std::int64_t> neighbours_of;
  std::int64_t top = 5;
};

template <class T>
std::vector<T> read_labels(const data::archive& ar, const std::string& canonical, std::int64_t n) {
  const std::string ds = ar.field_dataset(canonical);
  if (ds.empty()) return {};
  std::vector<double> v(n);
  ar.read_column(ds, 0, n, v.data());
  return std::vector<T>(v.begin(), v.end());
}

nlohmann::json to_json(const eval::probe_report& r) {
  nlohmann::json j = {{"n_reference", r.n_train}, {"n_test", r.n_test}};
  if (r.morphology_accuracy) {
    j["morphology_accuracy"] = *r.morphology_accuracy;
    j["morphology_majority_baseline"] = *r.morphology_majority;
  }
  auto pz = [](const eval::photoz_metrics& m) {
    return nlohmann::json{{"bias", m.bias},
                          {"sigma_mad", m.sigma_mad},
                          {"outliers_0.05", m.outliers_005},
                          {"outliers_0.15", m.outliers_015}};
  };
  if (r.photoz) {
    j["photoz"] = pz(*r.photoz);
    j["photoz_median_baseline"] = pz(*r.photoz_median);
  }
  return j;
}

void print_report(const std::string& name, const eval::probe_report& r) {
  if (r.morphology_accuracy)
    log::info("  {:<14} morphology k-NN accuracy {:.3f}   (majority class {:.3f})", name,
              *r.morphology_accuracy, *r.morphology_majority);
  if (r.photoz)
    log::info(
        "  {:<14} photo-z k-NN sigma_MAD {:.4f}, bias {:+.4f}, outliers(>0.15) {:.3f}   "
        "(median z: sigma_MAD {:.4f})",
        name, r.photoz->sigma_mad, r.photoz->bias, r.photoz->outliers_015,
        r.photoz_median->sigma_mad);
}

int run(const cli_args& a) {
  const fs::path run_dir = a.run_dir;
  config cfg = config::from_file(run_dir / "config.toml");
  if (!a.archive.empty()) cfg.apply_override("data.path=\"" + a.archive + "\"");
  const auto dopts = data::parse_data_options(cfg, "data");
  const data::archive ar(dopts.archive);
  const auto augment = kernels::augment_config_from(cfg, "augment");
  auto mopts = model::resnet_options_from(cfg, "model", ar.channels());
  // The saved query encoder carries the MoCo projection head, sized by moco.dim.
  mopts.head_dim = static_cast<int>(cfg.get_int("moco.dim", 128));
  const std::uint64_t seed = static_cast<std::uint64_t>(cfg.get_int("train.seed", 0));

  model::resnet trained(mopts);
  const fs::path weights = run_dir / "weights.pt";
  if (!fs::exists(weights))
    throw error(fmt::format("'{}' not found: train first (skyssl-train --run-dir {})",
                            weights.string(), a.run_dir));
  model::load_weights_file(*trained, weights,
                           fmt::format("the model in '{}'", (run_dir / "config.toml").string()));
  const std::int64_t n = a.limit > 0 ? std::min(a.limit, ar.size()) : ar.size();
  const auto morphology = read_labels<int>(ar, "morphology", n);
  const auto z_spec = read_labels<double>(ar, "z_spec", n);
  if (morphology.empty() && z_spec.empty())
    log::info("note: the archive has neither `morphology` nor `z_spec`: only similarity search");
  eval::probe_options popts{a.k, a.train_fraction, seed};
  nlohmann::json out = {{"archive", dopts.archive.paths}, {"galaxies", n}, {"k", a.k}};

  log::info("skyssl-eval: embedding {} galaxies ({} bands, {}x{} crops) with {}", n, ar.channels(),
            augment.crop_h, augment.crop_w, weights.string());
  const auto emb = eval::embed_archive(trained, ar, augment, a.chunk, n);
  const bool labelled = !morphology.empty() || !z_spec.empty();
  if (labelled) {
    const auto r = eval::knn_probe(emb.features, emb.ids, morphology, z_spec, popts);
    out["trained"] = to_json(r);
    log::info("k-NN probe ({} reference / {} test galaxies, k = {}):", r.n_train, r.n_test, a.k);
    print_report("trained", r);
    if (a.baseline) {
      // Same architecture, same seed, no training: how much of the probe is the architecture.
      torch::manual_seed(seed);
      model::resnet random_init(mopts);
      const auto base = eval::embed_archive(random_init, ar, augment, a.chunk, n);
      const auto rb = eval::knn_probe(base.features, base.ids, morphology, z_spec, popts);
      out["random_init"] = to_json(rb);
      print_report("random init", rb);
    }
  }
  if (!a.neighbours_of.empty()) {
    eval::similarity_index index(static_cast<int>(emb.features.size(1)));
    index.add(emb.features.data_ptr<float>(), n);
    for (auto q : a.neighbours_of) {
      if (q < 0 || q >= n)
        throw error(fmt::format("--neighbours: galaxy {} is not in [0, {})", q, n));
      const auto nn = index.search(emb.features[q].data_ptr<float>(), 1, std::min(a.top + 1, n));
      std::string line;
      for (std::int64_t j = 0; j < nn.k; ++j)
        line += fmt::format(" {}({:.3f}{})", nn.ids[j], nn.scores[j],
                            morphology.empty() ? "" : fmt::format(", m={}", morphology[nn.ids[j]]));
      log::info("neighbours of {}{}:{}", q,
                morphology.empty() ? "" : fmt::format(" (m={})", morphology[q]), line);
      out["neighbours"][std::to_string(q)] = nn.ids;
    }
  }
  const fs::path report = run_dir / "knn_probe.json";
  std::ofstream f(report);
  f << out.dump(2) << '\n';
  if (!f) throw error(fmt::format("cannot write '{}'", report.string()));
  log::info("wrote {}", report.string());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  keep_freed_memory();  // embedding batches: no page faults on every batch
  dist::runtime rt(&argc, &argv);
  CLI::App app{"skyssl-eval: k-NN probes and similarity search on a trained encoder"};
  cli_args a;
  app.add_option("--run-dir", a.run_dir, "run directory written by skyssl-train")->required();
  app.add_option("--archive", a.archive, "archive to embed (default: the run's data.path)");
  app.add_option("--k", a.k, "neighbours per query")->check(CLI::PositiveNumber);
  app.add_option("--train-fraction", a.train_fraction, "share of galaxies used as references")
      ->check(CLI::Range(0.01, 0.99));
  app.add_option("--limit", a.limit, "embed only the first N galaxies (0 = all)");
  app.add_option("--chunk", a.chunk, "galaxies per forward pass")->check(CLI::PositiveNumber);
  app.add_flag("!--no-baseline", a.baseline, "skip the random-init encoder baseline");
  app.add_option("--neighbours", a.neighbours_of, "list the nearest galaxies of these rows")
      ->delimiter(',');
  app.add_option("--top", a.top, "neighbours listed per --neighbours row")
      ->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  if (rt.world() > 1) {
    if (rt.rank() == 0) log::error("skyssl-eval runs on one rank; launch it without mpiexec");
    return 2;
  }
  try {
    kernels::kokkos_scope kokkos;
    return run(a);
  } catch (const std::exception& e) {
    log::error("skyssl-eval: {}", e.what());
    return 1;
  }
}
