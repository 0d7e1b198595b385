#include "skyssl/eval/evaluation.hpp"

#include <fmt/format.h>
#include <torch/torch.h>

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

}  // namespace

evaluation_report run_evaluation(const config& cfg_in, const evaluation_options& o) {
  // Subnormal floats (a random-init network's deep activations can underflow) cost 100x on
  // x86; the probes do not need them.
  at::globalContext().setFlushDenormal(true);
  config cfg = cfg_in;
  if (o.run_dir.empty() && o.embeddings.empty())
    throw config_error("eval: give --run-dir RUN or --embeddings FILE (or both)");
  if (o.features != "backbone" && o.features != "projection")
    throw config_error(fmt::format("--features '{}': backbone or projection", o.features));
  embed::embedding_header given;
  if (!o.embeddings.empty()) {
    given = embed::read_embedding_header(o.embeddings);
    if (!cfg.has("data.path")) cfg.apply_override("data.path=\"" + given.source + "\"");
  }
  const auto dopts = data::data_options_from(cfg, "data");
  const data::archive archive(dopts.archive);
  const auto augment = kernels::augment_config_from(cfg, "augment");
  const auto seed = embed::run_seed(cfg);
  const int channels = archive.channels();
  const bool have_run = !o.run_dir.empty();
  const fs::path out_dir = !o.out_dir.empty() ? fs::path(o.out_dir)
                           : have_run         ? fs::path(o.run_dir) / "eval"
                                              : fs::path(o.embeddings).parent_path() / "eval";
  fs::create_directories(out_dir);

  // Labels first: a missing or one-class field fails before any embedding work.
  const auto labels = read_task_labels(archive, archive.size(), o.class_field, o.z_field,
                                       "--class-field", "--z-field");

  // The SSL encoder and its embedding.
  model::resnet trained{nullptr};
  std::string emb_path = o.embeddings;
  if (have_run) {
    const auto weights = embed::run_weights(o.run_dir);
    trained =
        embed::load_encoder(cfg, channels, weights, (fs::path(o.run_dir) / "config.toml").string());
    const auto want = embed::model_description(trained->options());
    if (!o.embeddings.empty()) {
      if (given.model != want)
        throw data_error(fmt::format(
            "embedding file '{}' was written by model '{}', but run '{}' has '{}': embed this "
            "run with skyssl-embed --run-dir {} (or drop --embeddings)",
            o.embeddings, given.model, o.run_dir, want, o.run_dir));
    } else {
      emb_path = (fs::path(o.run_dir) / "embeddings.h5").string();
      ensure_run_embedding(trained, archive, augment, weights, emb_path, o.chunk);
    }
  }
  const auto h = embed::read_embedding_header(emb_path);
  if (h.rows != archive.size())
    throw data_error(
        fmt::format("embedding file '{}' has {} rows but archive '{}' has {}: embed "
                    "this archive (skyssl-embed --set data.path=...)",
                    emb_path, h.rows, h.source, archive.size()));
  const auto ssl = embed::read_embeddings(emb_path, o.features);
  const std::int64_t n = ssl.size(0);

  const auto splits = make_task_splits(labels, o.probes.split);
  evaluation_report report;
  auto& meta = report.meta();
  meta["archive"] = h.source;
  meta["rows"] = n;
  meta["embeddings"] = emb_path;
  meta["features"] = o.features;
  meta["model"] = h.model;
  meta["k"] = o.probes.k;
  meta["l2"] = o.probes.logistic.l2;
  meta["label_counts"] = o.probes.label_counts;
  meta["class_field"] = labels.class_field;
  meta["z_field"] = labels.z_field;
  meta["split_seed"] = o.probes.split.seed;
  if (splits.morphology) meta["morphology_test"] = splits.class_split.test.size();
  if (splits.photo_z) meta["photo_z_test"] = splits.z_split.test.size();
  meta["augment_ebv"] = {augment.ebv_min, augment.ebv_max};

  nlohmann::json points;
  if (splits.photo_z) {
    std::vector<double> zt;
    for (auto r : splits.z_split.test) zt.push_back(labels.z[r]);
    points["photo_z"]["z_true"] = zt;
  }
  const auto t0 = std::chrono::steady_clock::now();
  auto seconds = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  auto probe = [&](const std::string& name, const torch::Tensor& f) {
    log::info("eval: probing {} ({} x {}) at {:.0f} s", name, f.size(0), f.size(1), seconds());
    nlohmann::json preds;
    report.add_probes(name, probe_encoder(f, labels, splits, o.probes, &preds));
    if (preds.contains("z_knn")) points["photo_z"][name] = preds;
    auto pca = pca_points(f, o.plot_points);
    points["pca"][name] = pca;
  };
  probe("ssl", ssl);
  report.add_probes("trivial", trivial_baselines(labels, splits));

  model::resnet random{nullptr};
  if (o.random_init && have_run) {
    random = embed::random_encoder(cfg, channels);
    const auto r =
        embed::embed_archive(random, archive, augment, o.chunk, o.features == "projection");
    log::info("eval: random-init encoder embedded {} galaxies at {:.0f} s", n, seconds());
    probe("random_init", o.features == "projection" ? r.projection : r.backbone);
  } else if (o.random_init) {
    log::info("eval: no --run-dir, so no random-init baseline (its shape comes from the run)");
  }
  pixel_pca pca;
  if (o.pixels) {
    pca = fit_pixel_pca(crops_of(archive, augment, 0, std::min<std::int64_t>(n, 4096)),
                        o.pixel_components);
    std::vector<torch::Tensor> parts;
    for (std::int64_t s = 0; s < n; s += o.chunk)
      parts.push_back(pca.project(crops_of(archive, augment, s, std::min(o.chunk, n - s))));
    probe("pixels", torch::cat(parts));
  }
  if (o.supervised.enabled() && splits.morphology && have_run) {
    log::info("eval: supervised baseline (same ResNet from scratch on the labels) at {:.0f} s",
              seconds());
    report.add_probes(
        "supervised",
        {{"morphology",
          supervised_morphology(archive, augment, model::run_encoder_options(cfg, channels), labels,
                                splits.class_split, o.probes.label_counts, o.supervised, seed,
                                o.chunk)}});
  } else if (o.supervised.enabled() && splits.morphology) {
    log::info("eval: no --run-dir, so no supervised baseline (its shape comes from the run)");
  }
  {
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

  if (o.retrieval) {
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
    if (have_run) encoder_top1("ssl", trained);
    if (random) encoder_top1("random_init", random);
    if (o.pixels)
      report.add_retrieval("pixels",
                           retrieval_top1(pca.project(views.view1), pca.project(views.view2)), cnt);
    if (!have_run) log::info("eval: no --run-dir: self-retrieval needs the encoder, skipped");
  }
  log::info("eval: done in {:.0f} s", seconds());
  report.write(out_dir / "eval.json");
  replace_file(out_dir / "points.json", points.dump() + "\n");
  return report;
}

}  // namespace skyssl::eval
