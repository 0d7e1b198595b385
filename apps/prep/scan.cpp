// skyssl-prep scan: one pass of the sharded reader over an archive, as the trainer would read
// it (every rank its slice of every global batch, the same [data] options: read_threads,
// prefetch, nonfinite, direct_reads); prints images/s and MB/s over all ranks.
#include <fmt/format.h>

#include <chrono>
#include <memory>

#include "apps/common/config_flags.hpp"
#include "apps/prep/commands.hpp"
#include "skyssl/core/error.hpp"
#include "skyssl/core/log.hpp"
#include "skyssl/data/shard_reader.hpp"
#include "skyssl/dist/communicator.hpp"
#include "skyssl/dist/gather_ids.hpp"
#include "skyssl/dist/make_communicator.hpp"

namespace skyssl::prep {

namespace {

struct scan_args {
  config_sources sources;
  std::vector<std::string> paths;
  std::int64_t batch = 256;
  std::int64_t steps = 0;
  std::int64_t epoch = 0;
  std::uint64_t seed = 0;
};

void run_scan(const scan_args& a) {
  auto comm = dist::make_communicator("mpi");
  const auto d = data_from_flags(a.sources, a.paths, "scan");
  // Every rank its share of the data.nonfinite = "skip" scan, combined over the ranks.
  const data::row_exchange exchange = [&](const std::vector<std::int64_t>& mine) {
    return dist::all_gather_ids(*comm, mine);
  };
  auto reader_ptr = std::make_unique<data::shard_reader>(d.archive, d.reader, a.seed, a.batch,
                                                         comm->rank(), comm->world(), exchange);
  auto& reader = *reader_ptr;
  const std::int64_t steps = a.steps > 0 ? a.steps : reader.steps_per_epoch();
  const auto& ar = reader.source();
  const double mb_per_image =
      static_cast<double>(ar.channels()) * ar.height() * ar.width() * 4 / 1e6;
  log::info(
      "scan: {} samples, global batch {} on {} rank(s), {} steps from epoch {}, {} read "
      "thread(s) per rank, images read {}",
      reader.samples(), a.batch, comm->world(), steps, a.epoch, d.reader.read_threads,
      ar.files().front().images_read);
  reader.start(a.epoch, 0);
  comm->barrier();
  const auto t0 = std::chrono::steady_clock::now();
  double checksum = 0, zeroed = 0;
  for (std::int64_t s = 0; s < steps; ++s) {
    const auto b = reader.next();
    checksum += b.images.sum().item<double>();
    zeroed += static_cast<double>(b.nonfinite_pixels);
  }
  const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  auto tt = torch::tensor({t, checksum, zeroed}, torch::kFloat64);
  comm->barrier();
  comm->all_reduce_sum(tt);  // sums of times and checksums
  const double slow = tt[0].item<double>() / comm->world();
  const double images = static_cast<double>(steps * a.batch);
  log::info(
      "scan: {} images in {:.2f} s (mean over ranks): {:.1f} images/s, {:.1f} MB/s, "
      "checksum {:.6g}{}",
      static_cast<std::int64_t>(images), slow, images / slow, images * mb_per_image / slow,
      tt[1].item<double>(),
      d.reader.nonfinite == data::nonfinite_policy::zero
          ? fmt::format(", {} NaN/Inf pixels set to 0",
                        static_cast<std::int64_t>(tt[2].item<double>()))
          : "");
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
  return [a] { run_scan(*a); };
}

}  // namespace skyssl::prep
