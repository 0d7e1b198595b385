// skyssl-search: nearest galaxies by cosine similarity over an embedding file (skyssl-embed's
// output), with an exact or an approximate FAISS index that is built once, saved and reloaded.
//   skyssl-search --embeddings emb.h5 --index emb.ivfpq --kind ivf-pq        # build and save
//   skyssl-search --embeddings emb.h5 --index emb.ivfpq --id objid=1234 --k 12 --gallery nn.png
//   skyssl-search --embeddings emb.h5 --cutout galaxy.fits --run-dir runs/ex --k 8
// See docs/search-and-export.md.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "apps/common/index_flags.hpp"
#include "apps/common/tool_main.hpp"
#include "kernels/kokkos_runtime.hpp"
#include "skyssl/core/durable_file.hpp"
#include "skyssl/core/stop_signals.hpp"
#include "skyssl/core/error.hpp"
#include "skyssl/core/log.hpp"
#include "skyssl/embed/embedding_reader.hpp"
#include "skyssl/search/neighbour_gallery.hpp"
#include "skyssl/search/search_index.hpp"
#include "skyssl/search/search_query.hpp"
#include "skyssl/tiles/rgb_tiles.hpp"

namespace fs = std::filesystem;
using namespace skyssl;

namespace {

struct cli_args {
  std::string embeddings, space, index, kind = "flat", json, gallery;
  std::vector<std::string> archive;
  bool rebuild = false;
  search::index_build_options build;
  search::search_options search;
  search::query_request query;
  std::string cutout, run_dir;
  std::int64_t k = 10;
  int zoom = 0;
};

int run(cli_args a) {
  a.query.cutout = a.cutout;
  a.query.run_dir = a.run_dir;
  const bool has_queries = !a.query.rows.empty() || !a.query.ids.empty() || !a.query.cutout.empty();
  if (!has_queries && a.index.empty())
    throw config_error(
        "nothing to do: give --row, --id or --cutout to search, or --index to build and save "
        "an index");
  const embed::embedding_reader e(a.embeddings);
  const std::string space = search::choose_space(e, a.space);
  a.build.index.kind = search::parse_index_kind(a.kind, "--kind");
  auto last = std::chrono::steady_clock::now();
  auto opened = search::open_index(a.index, e, space, a.build, a.rebuild,
                                   [&](std::int64_t done, std::int64_t all) {
                                     const auto now = std::chrono::steady_clock::now();
                                     if (now - last > std::chrono::seconds(10) || done == all) {
                                       log::info("  indexed {}/{} rows", done, all);
                                       last = now;
                                     }
                                   });
  auto& index = opened.index;
  if (opened.built) {
    log::info("built in {:.1f} s", index.build_seconds());
    if (!a.index.empty()) {
      refuse_output_over_input(a.index, {a.embeddings}, "--index");
      index.save(a.index);
      log::info("saved {} (and {}.json)", a.index, a.index);
    }
  }
  if (!has_queries) return 0;  // built and saved
  index.index().set_search_options(a.search);
  const auto q = search::resolve_queries(a.query, e, space);
  const std::int64_t k = std::min<std::int64_t>(a.k, index.rows());
  const auto nn = index.index().search(q.vectors.data(), q.size(), k);
  const auto report = search::search_report(q, nn, e, index.index().description(), space);
  for (const auto& qr : report["queries"]) {
    log::info("neighbours of {}:", qr["query"].get<std::string>());
    int rank = 0;
    for (const auto& n : qr["neighbours"]) {
      std::string fields;
      for (const auto& f : e.fields()) fields += fmt::format("  {}={}", f, n[f].dump());
      log::info("  {:>3}  row {:>10}  cosine {:.4f}{}", ++rank, n["row"].get<std::int64_t>(),
                n["score"].get<double>(), fields);
    }
  }
  if (!a.json.empty()) {
    refuse_output_over_input(a.json, {a.embeddings, a.index}, "--json");
    replace_file(a.json, report.dump(2) + "\n");
    log::info("wrote {}", a.json);
  }
  if (!a.gallery.empty()) {
    search::gallery_request g;
    g.out = a.gallery;
    g.archive = a.archive;
    if (g.archive.empty()) {
      if (e.source().empty())
        throw config_error(
            fmt::format("--gallery: '{}' names no source archive; pass --archive", a.embeddings));
      g.archive = {e.source()};
    }
    g.run_dir = a.run_dir;
    g.zoom = a.zoom;
    std::vector<fs::path> inputs = {a.embeddings, a.index, a.json};
    inputs.insert(inputs.end(), g.archive.begin(), g.archive.end());
    refuse_output_over_input(a.gallery, inputs, "--gallery");
    search::write_neighbour_gallery(g, q, nn, e.rows());
    log::info("wrote {}", a.gallery);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  stop_cleanly_on_signals(
      "skyssl-search: stopped by a signal; no index, JSON or gallery was written (existing "
      "ones are unchanged): run the command again");
  CLI::App app{"skyssl-search: nearest galaxies by cosine similarity over an embedding file"};
  cli_args a;
  app.add_option("--embeddings", a.embeddings, "embedding file (skyssl-embed)")->required();
  app.add_option("--space", a.space, "backbone or projection (default: backbone if present)");
  app.add_option("--index", a.index,
                 "index file: loaded when it exists, else built and saved there");
  app.add_flag("--rebuild", a.rebuild, "build the index again even if --index exists");
  apps::add_index_build_flags(app, a.kind, a.build.index);
  app.add_option("--hnsw-m", a.build.index.hnsw_m, "hnsw graph degree");
  app.add_option("--train-rows", a.build.train_rows, "training sample (0: what the index needs)");
  app.add_option("--nprobe", a.search.nprobe, "IVF lists visited per query")
      ->check(CLI::PositiveNumber);
  app.add_option("--ef-search", a.search.ef_search, "hnsw search queue")
      ->check(CLI::PositiveNumber);
  app.add_option("--k-factor", a.search.k_factor, "ivf-pq candidates re-ranked per neighbour")
      ->check(CLI::PositiveNumber);
  app.add_option("--row", a.query.rows, "query by embedding-file row (comma-separated)")
      ->delimiter(',');
  app.add_option("--id", a.query.ids, "query by id field, FIELD=VALUE (repeatable)");
  app.add_option("--cutout", a.cutout, "query by a FITS or HDF5 cutout (needs --run-dir)");
  app.add_option("--run-dir", a.run_dir, "run whose encoder embeds --cutout (skyssl-train)");
  app.add_option("--k", a.k, "neighbours per query")->check(CLI::PositiveNumber);
  app.add_option("--json", a.json, "write the neighbours as JSON");
  app.add_option("--gallery", a.gallery, "write a PNG of each query and its neighbours");
  app.add_option("--archive", a.archive,
                 "archive the rows come from, for --gallery (default: the file's source)");
  app.add_option("--zoom", a.zoom, "gallery pixel zoom (0: automatic)")
      ->check(CLI::Range(0, tiles::max_gallery_zoom));
  CLI11_PARSE(app, argc, argv);
  std::unique_ptr<dist::communicator> comm;
  return apps::guarded_main("skyssl-search", comm, [&] {
    kernels::kokkos_scope kokkos;
    return run(a);
  });
}
