// skyssl-embed: a trained encoder's representations of every galaxy of an archive, written to
// one embedding file (docs/evaluation.md) on any number of ranks, resumable after a crash.
//   mpiexec -n 4 skyssl-embed --run-dir runs/ex [--out runs/ex/embeddings.h5]
//       [--what backbone,projection] [--chunk 256] [--set data.path=other.h5]
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <torch/types.h>
#include <torch/cuda.h>

#include <filesystem>

#include "apps/common/tool_main.hpp"
#include "apps/common/config_flags.hpp"
#include "kernels/augment_config.hpp"
#include "kernels/kokkos_runtime.hpp"
#include "skyssl/core/allocator.hpp"
#include "skyssl/core/stop_signals.hpp"
#include "skyssl/core/config.hpp"
#include "skyssl/core/error.hpp"
#include "skyssl/core/log.hpp"
#include "skyssl/data/archive.hpp"
#include "skyssl/data/options.hpp"
#include "skyssl/dist/communicator.hpp"
#include "skyssl/embed/embed.hpp"
#include "skyssl/embed/trained_encoder.hpp"
#include "skyssl/dist/runtime.hpp"
#include "skyssl/dist/make_communicator.hpp"

namespace fs = std::filesystem;
using namespace skyssl;

namespace {

struct cli_args {
  config_sources sources;
  std::string run_dir, out;
  std::vector<std::string> what{"backbone", "projection"};
  std::vector<std::string> fields;
  std::int64_t chunk = 256;
  std::int64_t stop_after = 0;
  std::string device = "auto";
};

int run(const cli_args& a, dist::communicator& comm) {
  const config cfg = embed::run_config(a.run_dir, resolve_config(a.sources));
  const auto dopts = data::data_options_from(cfg, "data");
  const data::archive ar(dopts.archive);
  const auto augment = kernels::augment_config_from(cfg, "augment");
  const auto weights = embed::run_weights(a.run_dir);
  auto encoder = embed::load_encoder(cfg, ar.channels(), weights,
                                     (fs::path(a.run_dir) / "config.toml").string());
  if (a.device == "cuda" || (a.device == "auto" && torch::cuda::is_available()))
    encoder->to(torch::kCUDA);
  embed::embed_options o;
  o.out = a.out.empty() ? (fs::path(a.run_dir) / "embeddings.h5").string() : a.out;
  o.backbone = o.projection = false;
  for (const auto& w : a.what) {
    if (w == "backbone")
      o.backbone = true;
    else if (w == "projection")
      o.projection = true;
    else
      throw config_error(fmt::format("--what: '{}' is not backbone or projection", w));
  }
  o.chunk = a.chunk;
  o.fields = a.fields;
  o.weights = weights.string();
  o.weights_digest = embed::weights_digest(o.weights);
  o.stop_after = a.stop_after;
  const auto r = embed::embed_to_file(encoder, ar, augment, o, comm);
  if (comm.rank() == 0)
    log::info("embed: wrote {} rows ({} already done) to '{}' in {:.1f} s: {:.0f} images/s", r.rows,
              r.chunks_done_before * o.chunk >= r.rows ? r.rows : r.chunks_done_before * o.chunk,
              o.out, r.seconds, r.images_per_s);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  keep_freed_memory();
  dist::runtime rt(&argc, &argv);
  stop_cleanly_on_signals(
      "skyssl-embed: stopped by a signal; the chunks already written are kept: run the same "
      "command to resume");
  CLI::App app{"skyssl-embed: representations of every galaxy of an archive, to one HDF5 file"};
  cli_args a;
  apps::add_config_flags(app, a.sources);
  app.add_option("--run-dir", a.run_dir, "run directory written by skyssl-train")->required();
  app.add_option("--out", a.out,
                 "embedding file (default RUN/embeddings.h5); an unfinished one "
                 "is resumed");
  app.add_option("--what", a.what, "backbone, projection or both (default both)")->delimiter(',');
  app.add_option("--fields", a.fields, "archive fields to copy (default: every numeric 1-D field)")
      ->delimiter(',');
  app.add_option("--chunk", a.chunk, "rows per chunk: unit of work, resume and memory")
      ->check(CLI::PositiveNumber);
  app.add_option("--device", a.device, "cpu, cuda or auto")
      ->check(CLI::IsMember({"cpu", "cuda", "auto"}));
  app.add_option("--stop-after", a.stop_after,
                 "testing: exit with status 86 after this many chunks per rank, as a crash would");
  CLI11_PARSE(app, argc, argv);
  std::unique_ptr<dist::communicator> comm;
  return apps::guarded_main("skyssl-embed", comm, [&] {
    kernels::kokkos_scope kokkos;
    comm = dist::make_communicator(rt.world() > 1 ? "mpi" : "local");
    return run(a, *comm);
  });
}
