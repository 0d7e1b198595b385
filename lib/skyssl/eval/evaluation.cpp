#include "skyssl/eval/evaluation.hpp"

#include <fmt/format.h>
#include <torch/types.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "kernels/augment.hpp"
#include "skyssl/core/config.hpp"
#include "skyssl/core/error.hpp"
#include "skyssl/core/durable_file.hpp"
#include "skyssl/core/log.hpp"
#include "skyssl/data/options.hpp"
#include "skyssl/dist/communicator.hpp"
#include "skyssl/embed/embed.hpp"
#include "skyssl/embed/embedding_reader.hpp"
#include "skyssl/eval/pixel_baseline.hpp"
#include "skyssl/eval/self_retrieval.hpp"
#include "skyssl/model/weights.hpp"
#include "skyssl/embed/trained_encoder.hpp"
#include "skyssl/dist/make_communicator.hpp"

namespace fs = std::filesystem;

namespace skyssl::eval {

namespace {

// Centre crops of rows [s, s + m).
torch::Tensor crops_of(const data::archive& a, const kernels::augment_config& augment,
                       std::int64_t s, std::int64_t m) {
  auto images = torch::empty({m, a.channels(), a.height(), a.width()});
  a.read_images(s, m, images.data_ptr<float>());
  return kernels::center_crop(augment, images);
}

// The run's embedding at `path`, written (or finished) first when absent or stale.
void ensure_run_embedding(model::resnet& encoder, const data::archive& archive,
                          const kernels::augment_config& augment, const fs::path& weights,
                          const std::string& path, std::int64_t chunk) {
  embed::embed_options eo;
  eo.out = path;
  eo.chunk = chunk;
  eo.weights = weights.string();
  eo.weights_digest = embed::weights_digest(weights.string());
  if (fs::exists(path)) {
    embed::embedding_header want;
    want.model = embed::model_description(encoder->options());
    want.weights = eo.weights;
    want.weights_digest = eo.weights_digest;
    for (const auto& f : archive.files()) want.source += (want.source.empty() ? "" : ",") + f.path;
    want.rows = archive.size();
    want.backbone_dim = encoder->feature_dim();
    want.projection_dim = encoder->options().head_dim;
    want.chunk_rows = chunk;
    std::string diff;
    try {
      diff = embed::difference(embed::read_embedding_header(path), want);
    } catch (const error& e) {
      diff = e.what();
    }
    if (!diff.empty()) {
      log::info("eval: '{}' is stale ({}): embedding again", path, diff);
      fs::remove(path);
    }
  }
  auto comm = dist::make_communicator("local");
  const auto r = embed::embed_to_file(encoder, archive, augment, eo, *comm);
  if (r.rows_embedded > 0)
    log::info("eval: embedded {} galaxies into '{}' ({:.0f} images/s)", r.rows_embedded, path,
              r.images_per_s);
}

nlohmann::json pca_points(const torch::Tensor& f, std::int64_t n) {
  n = std::min(n, f.size(0));
  auto x = f.narrow(0, 0, n).to(torch::kFloat64);
  x = x - x.mean(0);
  auto [evals, evecs] = torch::linalg_eigh(torch::mm(x.t(), x));
  const auto axes = evecs.flip(1).narrow(1, 0, 2);
  const auto xy = torch::mm(x, axes).contiguous();
  std::vector<double> px(static_cast<std::size_t>(n)), py(static_cast<std::size_t>(n));
  const auto* p = xy.data_ptr<double>();
  for (std::int64_t i = 0; i < n; ++i) {
    px[i] = p[2 * i];
    py[i] = p[2 * i + 1];
  }
  return {{"x", px}, {"y", py}};
}

// The options a tool cannot have checked already: an encoder or a file to evaluate, and which
// of its embeddings.
void check_options(const evaluation_options& o) {
  const auto& n = o.names;
  if (o.run_dir.empty() && o.embeddings.empty())
    throw config_error(
        fmt::format("eval: give {} RUN or {} FILE (or both)", n.run_dir, n.embeddings));
  if (o.features != "backbone" && o.features != "projection")
    throw config_error(fmt::format("{} '{}': backbone or projection", n.features, o.features));
}

// out_dir, else RUN/eval, else eval/ beside the embedding file.
fs::path output_dir(const evaluation_options& o) {
  if (!o.out_dir.empty()) return o.out_dir;
  if (!o.run_dir.empty()) return fs::path(o.run_dir) / "eval";
  return fs::path(o.embeddings).parent_path() / "eval";
}

// The SSL encoder (null without a run) and the embedding file of the archive's rows.
struct ssl_embedding {
  model::resnet encoder{nullptr};
  std::string path;
  embed::embedding_header header;
};

// A given embedding file must come from the run's model; without one the run is embedded
// into RUN/embeddings.h5 (resumed, or redone when stale). Either way it has a row per galaxy.
ssl_embedding load_ssl_embedding(const config& cfg, const evaluation_options& o,
                                 const embed::embedding_header& given, const data::archive& archive,
                                 const kernels::augment_config& augment) {
  const auto& names = o.names;
  ssl_embedding out;
  out.path = o.embeddings;
  if (!o.run_dir.empty()) {
    const auto weights = embed::run_weights(o.run_dir);
    out.encoder = embed::load_encoder(cfg, archive.channels(), weights,
                                      (fs::path(o.run_dir) / "config.toml").string());
    const auto want = embed::model_description(out.encoder->options());
    if (!o.embeddings.empty()) {
      if (given.model != want)
        throw data_error(fmt::format(
            "embedding file '{}' was written by model '{}', but run '{}' has '{}': {} (or drop {})",
            o.embeddings, given.model, o.run_dir, want,
            names.embed_run.empty()
                ? std::string("embed this run again")
                : fmt::format("embed this run with {} {}", names.embed_run, o.run_dir),
            names.embeddings));
    } else {
      out.path = (fs::path(o.run_dir) / "embeddings.h5").string();
      ensure_run_embedding(out.encoder, archive, augment, weights, out.path, o.chunk);
    }
  }
  out.header = embed::read_embedding_header(out.path);
  if (out.header.rows != archive.size())
    throw data_error(
        fmt::format("embedding file '{}' has {} rows but archive '{}' has {}: embed this archive{}",
                    out.path, out.header.rows, out.header.source, archive.size(),
                    names.embed_archive.empty() ? "" : " (" + names.embed_archive + ")"));
  return out;
}

// One evaluation under way: what every encoder is measured on (the archive, its labels and
// splits), the report and points being filled, and the clock of the log lines.
struct evaluation {
  evaluation(const evaluation_options& options, const data::archive& a,
             const kernels::augment_config& aug, const task_labels& l, std::int64_t galaxies,
             std::uint64_t run_seed)
      : o(options),
        archive(a),
        augment(aug),
        labels(l),
        splits(make_task_splits(l, options.probes.split)),
        n(galaxies),
        seed(run_seed) {}

  const evaluation_options& o;
  const data::archive& archive;
  const kernels::augment_config& augment;
  const task_labels& labels;
  task_splits splits;
  std::int64_t n;  // galaxies
  std::uint64_t seed;
  evaluation_report report;
  nlohmann::json points;
  std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();

  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }

  void describe(const ssl_embedding& ssl) {
    auto& meta = report.meta();
    meta["archive"] = ssl.header.source;
    meta["rows"] = n;
    meta["embeddings"] = ssl.path;
    meta["features"] = o.features;
    meta["model"] = ssl.header.model;
    meta["k"] = o.probes.k;
    meta["l2"] = o.probes.logistic.l2;
    meta["label_counts"] = o.probes.label_counts;
    meta["class_field"] = labels.class_field;
    meta["z_field"] = labels.z_field;
    meta["split_seed"] = o.probes.split.seed;
    if (splits.morphology) meta["morphology_test"] = splits.class_split.test.size();
    if (splits.photo_z) meta["photo_z_test"] = splits.z_split.test.size();
    meta["augment_ebv"] = {augment.ebv_min, augment.ebv_max};
    if (splits.photo_z) {
      std::vector<double> zt;
      for (auto r : splits.z_split.test) zt.push_back(labels.z[r]);
      points["photo_z"]["z_true"] = zt;
    }
  }

  // The probes on one encoder's features, its photo-z predictions and its PCA scatter.
  void probe(const std::string& name, const torch::Tensor& f) {
    log::info("eval: probing {} ({} x {}) at {:.0f} s", name, f.size(0), f.size(1), seconds());
    nlohmann::json preds;
    report.add_probes(name, probe_encoder(f, labels, splits, o.probes, &preds));
    if (preds.contains("z_knn")) points["photo_z"][name] = preds;
    auto pca = pca_points(f, o.plot_points);
    points["pca"][name] = pca;
  }

  // An encoder of the run's shape with its initial weights, probed like the trained one.
  model::resnet random_init_baseline(const config& cfg) {
    auto random = embed::random_encoder(cfg, archive.channels());
    const auto r =
        embed::embed_archive(random, archive, augment, o.chunk, o.features == "projection");
    log::info("eval: random-init encoder embedded {} galaxies at {:.0f} s", n, seconds());
    probe("random_init", o.features == "projection" ? r.projection : r.backbone);
    return random;
  }

  // Centre-cropped pixels projected on their first principal components.
  pixel_pca pixel_baseline() {
    auto pca = fit_pixel_pca(crops_of(archive, augment, 0, std::min<std::int64_t>(n, 4096)),
                             o.pixel_components);
    std::vector<torch::Tensor> parts;
    for (std::int64_t s = 0; s < n; s += o.chunk)
      parts.push_back(pca.project(crops_of(archive, augment, s, std::min(o.chunk, n - s))));
    probe("pixels", torch::cat(parts));
    return pca;
  }

  void supervised_baseline(const config& cfg) {
    log::info("eval: supervised baseline (same ResNet from scratch on the labels) at {:.0f} s",
              seconds());
    report.add_probes(
        "supervised",
        {{"morphology", supervised_morphology(archive, augment,
                                              model::run_encoder_options(cfg, archive.channels()),
                                              labels, splits.class_split, o.probes.label_counts,
                                              o.supervised, seed, o.chunk)}});
  }

  // The labels of the galaxies in the PCA scatters.
  void pca_fields() {
    nlohmann::json fields;
    const auto m = std::min<std::int64_t>(o.plot_points, n);
    if (!labels.classes.empty())
      fields["class"] = std::vector<int>(labels.classes.begin(), labels.classes.begin() + m);
    if (!labels.z.empty()) {
      nlohmann::json z = nlohmann::json::array();
      for (std::int64_t i = 0; i < m; ++i)
        z.push_back(std::isnan(labels.z[i]) ? nlohmann::json() : nlohmann::json(labels.z[i]));
      fields["z"] = z;
    }
    points["pca_fields"] = fields;
  }

  // Top-1 retrieval of one augmented view from the other, for each encoder that is here.
  void self_retrieval(model::resnet& trained, model::resnet& random, const pixel_pca* pca) {
    std::vector<std::int64_t> all(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) all[i] = i;
    const std::int64_t count = std::min<std::int64_t>(o.retrieval_count, n);
    split_options so;
    so.seed = seed;
    so.test_count = count < n ? count : n - 1;
    auto rows = make_split(all, so).test;
    const auto views = make_retrieval_views(archive, augment, rows, seed);
    const auto cnt = static_cast<std::int64_t>(rows.size());
    log::info("eval: self-retrieval of {} galaxies at {:.0f} s", cnt, seconds());
    // Top-1 in the probed features, and in the projection head's space (what MoCo trains to be
    // invariant) as top1_projection.
    auto encoder_top1 = [&](const std::string& name, model::resnet& e) {
      const auto a = embed::encode(e, views.view1, o.chunk, true);
      const auto b = embed::encode(e, views.view2, o.chunk, true);
      const bool proj = o.features == "projection";
      report.add_retrieval(name,
                           proj ? retrieval_top1(a.projection, b.projection)
                                : retrieval_top1(a.backbone, b.backbone),
                           cnt);
      report.json_mut()["self_retrieval"][name]["top1_projection"] =
          retrieval_top1(a.projection, b.projection);
    };
    if (trained) encoder_top1("ssl", trained);
    if (random) encoder_top1("random_init", random);
    if (pca)
      report.add_retrieval(
          "pixels", retrieval_top1(pca->project(views.view1), pca->project(views.view2)), cnt);
    if (!trained)
      log::info("eval: no {}: self-retrieval needs the encoder, skipped", o.names.run_dir);
  }
};

}  // namespace

evaluation_report run_evaluation(const config& cfg_in, const evaluation_options& o) {
  // Subnormal floats (a random-init network's deep activations can underflow) cost 100x on
  // x86; the probes do not need them.
  at::globalContext().setFlushDenormal(true);
  check_options(o);
  config cfg = cfg_in;
  embed::embedding_header given;
  if (!o.embeddings.empty()) {
    given = embed::read_embedding_header(o.embeddings);
    if (!cfg.has("data.path")) cfg.apply_override("data.path=\"" + given.source + "\"");
  }
  const data::archive archive(data::data_options_from(cfg, "data").archive);
  const auto augment = kernels::augment_config_from(cfg, "augment");
  const auto seed = embed::run_seed(cfg);
  const bool have_run = !o.run_dir.empty();
  const fs::path out_dir = output_dir(o);
  fs::create_directories(out_dir);

  // Labels first: a missing or one-class field fails before any embedding work.
  const auto labels = read_task_labels(archive, archive.size(), o.class_field, o.z_field,
                                       o.names.class_field, o.names.z_field);
  auto ssl = load_ssl_embedding(cfg, o, given, archive, augment);
  const auto features = embed::read_embeddings(ssl.path, o.features);

  evaluation ev(o, archive, augment, labels, features.size(0), seed);
  ev.describe(ssl);
  ev.probe("ssl", features);
  ev.report.add_probes("trivial", trivial_baselines(labels, ev.splits));
  model::resnet random{nullptr};
  if (o.random_init && have_run)
    random = ev.random_init_baseline(cfg);
  else if (o.random_init)
    log::info("eval: no {}, so no random-init baseline (its shape comes from the run)",
              o.names.run_dir);
  pixel_pca pca;
  if (o.pixels) pca = ev.pixel_baseline();
  if (o.supervised.enabled() && ev.splits.morphology && have_run)
    ev.supervised_baseline(cfg);
  else if (o.supervised.enabled() && ev.splits.morphology)
    log::info("eval: no {}, so no supervised baseline (its shape comes from the run)",
              o.names.run_dir);
  ev.pca_fields();
  if (o.retrieval) ev.self_retrieval(ssl.encoder, random, o.pixels ? &pca : nullptr);
  log::info("eval: done in {:.0f} s", ev.seconds());
  ev.report.write(out_dir / "eval.json");
  replace_file(out_dir / "points.json", ev.points.dump() + "\n");
  return std::move(ev.report);
}

}  // namespace skyssl::eval
