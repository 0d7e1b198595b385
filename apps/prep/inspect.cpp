// skyssl-prep inspect: what an archive holds, at survey scale. Metadata first (files, shape,
// dtypes, chunking, how rows are read, bands, fields), printed at once; then pixel and field
// statistics over a sample of rows spread over the whole archive (--sample N), or over every
// row with --all (progress line and ETA on stderr). Under mpiexec -n R each rank takes a share
// of the rows and rank 0 prints the merged result. Memory is bounded by --chunk-mb plus the
// pixels kept for percentiles.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>

#include "apps/common/config_flags.hpp"
#include "apps/prep/commands.hpp"
#include "skyssl/core/error.hpp"
#include "skyssl/core/log.hpp"
#include "skyssl/data/archive.hpp"
#include "skyssl/data/archive_stats.hpp"
#include "skyssl/dist/communicator.hpp"
#include "skyssl/dist/make_communicator.hpp"

namespace skyssl::prep {

namespace {

struct inspect_args {
  config_sources sources;
  std::vector<std::string> paths;
  std::vector<std::string> field_maps;
  std::string survey;
  double chunk_mb = 64;
  std::int64_t sample = 4096;
  std::uint64_t seed = 0;
  bool all = false;
  bool strict = false;
  int max_files = 20;
};

// value_stats as 7 doubles, so every rank's can be all-gathered and folded (extrema included).
std::vector<double> pack(const data::value_stats& s) {
  return {s.n > 0 ? s.lo : std::numeric_limits<double>::infinity(),
          s.n > 0 ? s.hi : -std::numeric_limits<double>::infinity(),
          s.sum,
          s.sum2,
          static_cast<double>(s.n),
          static_cast<double>(s.nan),
          static_cast<double>(s.inf)};
}
data::value_stats unpack(const double* p) {
  data::value_stats s;
  s.lo = p[0];
  s.hi = p[1];
  s.sum = p[2];
  s.sum2 = p[3];
  s.n = std::llround(p[4]);
  s.nan = std::llround(p[5]);
  s.inf = std::llround(p[6]);
  return s;
}

// Every rank's stats merged on every rank (a collective).
std::vector<data::value_stats> merge_over_ranks(dist::communicator& comm,
                                                const std::vector<data::value_stats>& mine) {
  if (comm.world() == 1 || mine.empty()) return mine;
  std::vector<double> flat;
  for (const auto& s : mine) {
    const auto p = pack(s);
    flat.insert(flat.end(), p.begin(), p.end());
  }
  const auto all = comm.all_gather(torch::tensor(flat, torch::kFloat64)).contiguous();
  const double* p = all.data_ptr<double>();
  std::vector<data::value_stats> out(mine.size());
  for (int r = 0; r < comm.world(); ++r)
    for (std::size_t i = 0; i < mine.size(); ++i)
      out[i].merge(unpack(p + (r * mine.size() + i) * 7));
  return out;
}

// Each rank's kept pixels of one band, gathered (padded with NaN to the longest).
std::vector<float> gather_floats(dist::communicator& comm, const std::vector<float>& mine) {
  if (comm.world() == 1) return mine;
  const auto len = comm.all_gather(torch::tensor(static_cast<std::int64_t>(mine.size())));
  const std::int64_t longest = std::max<std::int64_t>(1, len.max().item<std::int64_t>());
  auto padded = torch::full({longest}, std::numeric_limits<float>::quiet_NaN(), torch::kFloat32);
  std::copy(mine.begin(), mine.end(), padded.data_ptr<float>());
  const auto all = comm.all_gather(padded).contiguous();
  std::vector<float> out;
  const float* p = all.data_ptr<float>();
  for (std::int64_t i = 0; i < all.numel(); ++i)
    if (!std::isnan(p[i])) out.push_back(p[i]);
  return out;
}

void run_inspect(const inspect_args& a) {
  auto comm = dist::make_communicator("mpi");
  const int rank = comm->rank(), world = comm->world();
  const bool root = rank == 0;
  data::archive_options ao = archive_from_flags(a.sources, a.paths, "inspect");
  if (!a.survey.empty()) ao.survey = a.survey;
  for (const auto& m : a.field_maps) {
    const auto eq = m.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == m.size())
      throw config_error(fmt::format("inspect: --field '{}' must be canonical=dataset", m));
    ao.fields[m.substr(0, eq)] = m.substr(eq + 1);
  }
  if (a.sample < 1)
    throw config_error(fmt::format("inspect: --sample must be >= 1, got {}", a.sample));
  const data::archive ar(ao);
  const auto& files = ar.files();
  const auto& first = files.front();
  const auto images =
      std::find_if(first.datasets.begin(), first.datasets.end(),
                   [&](const data::dataset_info& d) { return d.name == ao.images; });
  // 1. Metadata: no pixel read yet.
  if (root) {
    fmt::print("archive: {} file(s), images ({}, {}, {}, {}) {}, {}\n", files.size(), ar.size(),
               ar.channels(), ar.height(), ar.width(), first.image_dtype,
               images != first.datasets.end() ? images->layout : "?");
    fmt::print("bands: {}  pixel_scale: {} arcsec/px  survey: {}\n", fmt::join(ar.bands(), " "),
               ar.pixel_scale(), ar.survey().empty() ? "(none)" : ar.survey());
    const int shown = std::min<int>(static_cast<int>(files.size()), a.max_files);
    for (int i = 0; i < shown; ++i) {
      const auto& f = files[static_cast<std::size_t>(i)];
      fmt::print("  {}: {} rows, images {}, read {}\n", f.path, f.rows, f.image_dtype,
                 f.images_read);
    }
    if (shown < static_cast<int>(files.size()))
      fmt::print("  ... {} more file(s) (--max-files to list them)\n", files.size() - shown);
    fmt::print("fields (canonical -> dataset): ebv -> {}, z_spec -> {}", ar.field_dataset("ebv"),
               ar.field_dataset("z_spec"));
    for (const auto& b : ar.bands())
      fmt::print(", psfsize_{} -> {}", b, ar.field_dataset("psfsize_" + b));
    fmt::print("\n");
    for (const auto& d : first.datasets) {
      if (d.name == ao.images) continue;
      fmt::print("  dataset {:<16} {:<8} shape {} {}\n", d.name, d.dtype, fmt::join(d.shape, "x"),
                 d.layout);
    }
    std::fflush(stdout);
  }
  // 2. Which rows: a stratified sample of the whole archive, or all; this rank's share.
  const std::int64_t n = ar.size();
  const bool every = a.all || a.sample >= n;
  std::vector<std::int64_t> rows;
  std::int64_t begin = 0, end = 0, planned = n;
  if (every) {
    begin = n * rank / world;
    end = n * (rank + 1) / world;
  } else {
    const auto all_rows = data::sample_rows(n, a.sample, a.seed);
    planned = static_cast<std::int64_t>(all_rows.size());
    rows.assign(all_rows.begin() + planned * rank / world,
                all_rows.begin() + planned * (rank + 1) / world);
  }
  if (root) {
    fmt::print("statistics over {}: {} of {} rows on {} rank(s)\n",
               every ? "every row" : "a sample spread over the archive (--sample, --all)", planned,
               n, world);
    std::fflush(stdout);
  }
  // Fields: the same rows.
  std::vector<std::string> fields;
  for (const auto& d : first.datasets) {
    const bool numeric =
        d.dtype.find("int") != std::string::npos || d.dtype.find("float") != std::string::npos;
    if (d.name != ao.images && numeric && d.shape.size() == 1) fields.push_back(d.name);
  }
  std::vector<data::value_stats> field_stats(fields.size());
  {
    const std::int64_t chunk = 1 << 20;
    std::vector<double> col;
    std::vector<std::int64_t> part;
    for (std::size_t i = 0; i < fields.size(); ++i) {
      if (every) {
        for (std::int64_t s = begin; s < end; s += chunk) {
          const std::int64_t m = std::min(chunk, end - s);
          col.resize(static_cast<std::size_t>(m));
          ar.read_column(fields[i], s, m, col.data());
          for (double v : col) field_stats[i].add(v);
        }
      } else {
        col.resize(rows.size());
        ar.read_column_rows(fields[i], rows, col.data());
        for (double v : col) field_stats[i].add(v);
      }
    }
  }
  // Pixels.
  data::pixel_scan_options po;
  po.block_bytes = static_cast<std::int64_t>(a.chunk_mb * 1e6);
  po.keep_per_band = std::max<std::int64_t>(1, (std::int64_t{1} << 20) / world);
  const auto t0 = std::chrono::steady_clock::now();
  auto last = t0;
  if (every && root)
    po.progress = [&](std::int64_t done, std::int64_t total) {
      const auto now = std::chrono::steady_clock::now();
      if (std::chrono::duration<double>(now - last).count() < 2.0 && done < total) return;
      last = now;
      const double t = std::chrono::duration<double>(now - t0).count();
      const double eta =
          done > 0 ? t / static_cast<double>(done) * static_cast<double>(total - done) : 0;
      fmt::print(
          stderr, "inspect: rank 0 read {}/{} rows ({:.0f}%), {:.0f} rows/s, ETA {}\n", done, total,
          100.0 * static_cast<double>(done) / static_cast<double>(std::max<std::int64_t>(total, 1)),
          t > 0 ? static_cast<double>(done) / t : 0.0, format_duration(eta));
    };
  const auto px = every ? data::scan_pixels(ar, begin, end, po) : data::scan_pixels(ar, rows, po);
  // 3. Merge over ranks and print on rank 0.
  const auto bands = merge_over_ranks(*comm, px.bands);
  const auto fstats = merge_over_ranks(*comm, field_stats);
  std::vector<std::vector<float>> kept;
  for (int c = 0; c < ar.channels(); ++c)
    kept.push_back(gather_floats(*comm, px.kept[static_cast<std::size_t>(c)]));
  auto counts = torch::tensor({static_cast<double>(px.rows), static_cast<double>(px.bad_rows)},
                              torch::kFloat64);
  comm->all_reduce_sum(counts);
  const auto firsts = comm->all_gather(torch::tensor(px.first_bad, torch::kInt64));
  std::int64_t first_bad = -1;
  for (std::int64_t r = 0; r < firsts.numel(); ++r) {
    const auto v = firsts[r].item<std::int64_t>();
    if (v >= 0 && (first_bad < 0 || v < first_bad)) first_bad = v;
  }
  const auto rows_read = std::llround(counts[0].item<double>());
  const auto bad_rows = std::llround(counts[1].item<double>());
  std::int64_t nonfinite = 0;
  for (const auto& b : bands) nonfinite += b.nan + b.inf;
  if (root) {
    for (std::size_t i = 0; i < fields.size(); ++i)
      fmt::print("  field {:<16} {}\n", fields[i], fstats[i].str());
    data::pixel_stats merged;
    merged.kept = kept;
    for (int c = 0; c < ar.channels(); ++c) {
      fmt::print("  pixels {:<3} {}\n", ar.bands()[static_cast<std::size_t>(c)],
                 bands[static_cast<std::size_t>(c)].str());
      fmt::print(
          "  pixels {:<3} percentiles p1 {:.6g}  p5 {:.6g}  p50 {:.6g}  p95 {:.6g}  p99 {:.6g}  "
          "(from {} pixels)\n",
          ar.bands()[static_cast<std::size_t>(c)], merged.percentile(c, 1), merged.percentile(c, 5),
          merged.percentile(c, 50), merged.percentile(c, 95), merged.percentile(c, 99),
          kept[static_cast<std::size_t>(c)].size());
    }
    fmt::print("rows read: {} of {} in {:.1f} s\n", rows_read, n,
               std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    fmt::print("NaN/Inf pixels: {} in {} sample(s){}{}\n", nonfinite, bad_rows,
               first_bad >= 0 ? fmt::format(" (first: global id {})", first_bad) : "",
               every ? "" : " of those read");
  }
  if (a.strict && nonfinite > 0)
    throw data_error(
        fmt::format("archive '{}' has {} NaN/Inf pixels in {} samples{} (first: global id {})",
                    first.path, nonfinite, bad_rows, every ? "" : " of those sampled", first_bad));
}

}  // namespace

command add_inspect(CLI::App& app) {
  auto a = std::make_shared<inspect_args>();
  app.add_option("paths", a->paths, "archive: file(s), glob(s) or @listfile (default: data.path)");
  apps::add_config_flags(app, a->sources);
  app.add_option("--field", a->field_maps, "canonical=dataset field mapping, e.g. ebv=e_bv");
  app.add_option("--survey", a->survey, "decals or sdss: preset for missing attributes");
  app.add_option("--sample", a->sample, "rows for the statistics, spread over the whole archive")
      ->capture_default_str();
  app.add_option("--seed", a->seed, "seed of the sampled rows")->capture_default_str();
  app.add_flag("--all", a->all, "statistics over every row (progress and ETA on stderr)");
  app.add_option("--chunk-mb", a->chunk_mb, "memory for one block of images, MB")
      ->capture_default_str();
  app.add_option("--max-files", a->max_files, "files listed one per line")->capture_default_str();
  app.add_flag("--strict", a->strict, "exit non-zero when any pixel read is NaN/Inf");
  return [a] { run_inspect(*a); };
}

}  // namespace skyssl::prep
