// skyssl-prep scan: one pass of the sharded reader over an archive, as the trainer would read
// it (every rank its slice of every global batch); prints images/s and MB/s over all ranks.
#include <fmt/format.h>

#include <chrono>
#include <memory>

#include "apps/common/config_flags.hpp"
#include "apps/prep/commands.hpp"
#include "skyssl/core/error.hpp"
#include "skyssl/core/log.hpp"
#include "skyssl/data/shard_reader.hpp"
#include "skyssl/dist/communicator.hpp"

namespace skyssl::prep {

namespace {

struct scan_args {
  train::config_sources sources;
  std::vector<std::string> paths;
  std::int64_t batch = 256;
  std::int64_t steps = 0;
  std::int64_t epoch = 0;
  std::uint64_t seed = 0;
  int prefetch = 2;
  bool no_check = false;
};

void run_scan(const scan_args& a) {
  auto comm = dist::make_communicator("mpi");
  const data::archive_options ao = archive_from_flags(a.sources, a.paths, "scan");
  data::reader_options ro;
  ro.prefetch = a.prefetch;
  ro.check_finite = !a.no_check;
  auto reader_ptr =
      std::make_unique<data::shard_reader>(ao, ro, a.seed, a.batch, comm->rank(), comm->world());
  auto& reader = *reader_ptr;
  const std::int64_t steps = a.steps > 0 ? a.steps : reader.steps_per_epoch();
  const auto& ar = reader.source();
  const double mb_per_image =
      static_cast<double>(ar.channels()) * ar.height() * ar.width() * 4 / 1e6;
  log::info("scan: {} samples, global batch {} on {} rank(s), {} steps from epoch {}", ar.size(),
            a.batch, comm->world(), steps, a.epoch);
  reader.start(a.epoch, 0);
  comm->barrier();
  const auto t0 = std::chrono::steady_clock::now();
  double checksum = 0;
  for (std::int64_t s = 0; s < steps; ++s) {
    const auto b = reader.next();
    checksum += b.images.sum().item<double>();
  }
  const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  auto tt = torch::tensor({t, checksum}, torch::kFloat64);
  comm->barrier();
  comm->all_reduce_sum(tt);  // sums of times and checksums
  const double slow = tt[0].item<double>() / comm->world();
  const double images = static_cast<double>(steps * a.batch);
  log::info(
      "scan: {} images in {:.2f} s (mean over ranks): {:.1f} images/s, {:.1f} MB/s, "
      "checksum {:.6g}",
      static_cast<std::int64_t>(images), slow, images / slow, images * mb_per_image / slow,
      tt[1].item<double>());
}

}  // namespace

command add_scan(CLI::App& app) {
  auto a = std::make_shared<scan_args>();
  app.add_option("paths", a->paths, "archive: file(s), glob(s) or @listfile (default: data.path)");
  apps::add_config_flags(app, a->sources);
  app.add_option("--batch", a->batch, "global batch (divisible by the ranks)")
      ->capture_default_str();
  app.add_option("--steps", a->steps, "steps to read (default: one epoch)");
  app.add_option("--epoch", a->epoch, "epoch to read")->capture_default_str();
  app.add_option("--seed", a->seed, "sample-order seed")->capture_default_str();
  app.add_option("--prefetch", a->prefetch, "batches read ahead")->capture_default_str();
  app.add_flag("--no-check", a->no_check, "skip the NaN/Inf pixel check");
  return [a] { run_scan(*a); };
}

}  // namespace skyssl::prep
