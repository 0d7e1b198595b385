// skyssl-prep inspect: what an archive holds, streamed in chunks (memory bounded by --chunk-mb):
// shape, dtypes, bands, pixel scale, fields with ranges, per-band pixel ranges, NaN/Inf counts.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>

#include "apps/common/config_flags.hpp"
#include "apps/prep/commands.hpp"
#include "skyssl/core/error.hpp"
#include "skyssl/data/archive.hpp"

namespace skyssl::prep {

namespace {

struct inspect_args {
  train::config_sources sources;
  std::vector<std::string> paths;
  std::map<std::string, std::string> fields;
  std::vector<std::string> field_maps;
  std::string survey;
  double chunk_mb = 64;
  bool strict = false;
};

struct stats {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo, sum = 0, sum2 = 0;
  std::int64_t n = 0, nan = 0, inf = 0;
  void add(double v) {
    if (std::isnan(v)) {
      ++nan;
    } else if (std::isinf(v)) {
      ++inf;
    } else {
      lo = std::min(lo, v);
      hi = std::max(hi, v);
      sum += v;
      sum2 += v * v;
      ++n;
    }
  }
  std::string str() const {
    if (n == 0) return fmt::format("no finite values  nan {}  inf {}", nan, inf);
    const double mean = sum / n, sd = std::sqrt(std::max(0.0, sum2 / n - mean * mean));
    return fmt::format("min {:<12.6g} max {:<12.6g} mean {:<12.6g} std {:<12.6g} nan {}  inf {}",
                       lo, hi, mean, sd, nan, inf);
  }
};

void run_inspect(const inspect_args& a) {
  data::archive_options ao = archive_from_flags(a.sources, a.paths, "inspect");
  if (!a.survey.empty()) ao.survey = a.survey;
  for (const auto& m : a.field_maps) {
    const auto eq = m.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == m.size())
      throw config_error(fmt::format("inspect: --field '{}' must be canonical=dataset", m));
    ao.fields[m.substr(0, eq)] = m.substr(eq + 1);
  }
  const data::archive ar(ao);
  const auto& files = ar.files();
  fmt::print("archive: {} file(s), images ({}, {}, {}, {})\n", files.size(), ar.size(),
             ar.channels(), ar.height(), ar.width());
  fmt::print("bands: {}  pixel_scale: {} arcsec/px  survey: {}\n", fmt::join(ar.bands(), " "),
             ar.pixel_scale(), ar.survey().empty() ? "(none)" : ar.survey());
  for (const auto& f : files)
    fmt::print("  {}: {} rows, images {}\n", f.path, f.rows, f.image_dtype);
  fmt::print("fields (canonical -> dataset): ebv -> {}, z_spec -> {}", ar.field_dataset("ebv"),
             ar.field_dataset("z_spec"));
  for (const auto& b : ar.bands())
    fmt::print(", psfsize_{} -> {}", b, ar.field_dataset("psfsize_" + b));
  fmt::print("\n");
  // Fields: those of the first file, ranges over the whole archive.
  const std::int64_t col_chunk = 1 << 20;
  std::vector<double> col;
  for (const auto& d : files.front().datasets) {
    if (d.name == "images") continue;
    const bool numeric =
        d.dtype.find("int") != std::string::npos || d.dtype.find("float") != std::string::npos;
    if (!numeric || d.shape.size() != 1) {
      fmt::print("  field {:<16} {:<8} shape {}\n", d.name, d.dtype, fmt::join(d.shape, "x"));
      continue;
    }
    stats s;
    for (std::int64_t start = 0; start < ar.size(); start += col_chunk) {
      const std::int64_t n = std::min(col_chunk, ar.size() - start);
      col.resize(static_cast<std::size_t>(n));
      ar.read_column(d.name, start, n, col.data());
      for (double v : col) s.add(v);
    }
    fmt::print("  field {:<16} {:<8} {}\n", d.name, d.dtype, s.str());
  }
  // Pixels, per band, in chunks of rows.
  const std::int64_t plane = static_cast<std::int64_t>(ar.height()) * ar.width();
  const std::int64_t row_bytes = plane * ar.channels() * 4;
  const std::int64_t rows =
      std::max<std::int64_t>(1, static_cast<std::int64_t>(a.chunk_mb * 1e6) / row_bytes);
  std::vector<float> buf(static_cast<std::size_t>(rows * plane * ar.channels()));
  std::vector<stats> per_band(static_cast<std::size_t>(ar.channels()));
  std::int64_t bad_samples = 0, first_bad = -1;
  for (std::int64_t start = 0; start < ar.size(); start += rows) {
    const std::int64_t n = std::min(rows, ar.size() - start);
    ar.read_images(start, n, buf.data());
    for (std::int64_t k = 0; k < n; ++k) {
      bool bad = false;
      for (int c = 0; c < ar.channels(); ++c) {
        auto& s = per_band[static_cast<std::size_t>(c)];
        const float* p = buf.data() + (k * ar.channels() + c) * plane;
        const std::int64_t before = s.nan + s.inf;
        for (std::int64_t i = 0; i < plane; ++i) s.add(p[i]);
        bad = bad || s.nan + s.inf != before;
      }
      if (bad) {
        ++bad_samples;
        if (first_bad < 0) first_bad = start + k;
      }
    }
  }
  std::int64_t nonfinite = 0;
  for (int c = 0; c < ar.channels(); ++c) {
    const auto& s = per_band[static_cast<std::size_t>(c)];
    nonfinite += s.nan + s.inf;
    fmt::print("  pixels {:<3} {}\n", ar.bands()[static_cast<std::size_t>(c)], s.str());
  }
  fmt::print("NaN/Inf pixels: {} in {} sample(s){}\n", nonfinite, bad_samples,
             first_bad >= 0 ? fmt::format(" (first: global id {})", first_bad) : "");
  if (a.strict && nonfinite > 0)
    throw data_error(
        fmt::format("archive '{}' has {} NaN/Inf pixels in {} samples (first: global id {})",
                    files.front().path, nonfinite, bad_samples, first_bad));
}

}  // namespace

command add_inspect(CLI::App& app) {
  auto a = std::make_shared<inspect_args>();
  app.add_option("paths", a->paths, "archive: file(s), glob(s) or @listfile (default: data.path)");
  apps::add_config_flags(app, a->sources);
  app.add_option("--field", a->field_maps, "canonical=dataset field mapping, e.g. ebv=e_bv");
  app.add_option("--survey", a->survey, "decals or sdss: preset for missing attributes");
  app.add_option("--chunk-mb", a->chunk_mb, "memory for one chunk of images, MB")
      ->capture_default_str();
  app.add_flag("--strict", a->strict, "exit non-zero when any pixel is NaN/Inf");
  return [a] { run_inspect(*a); };
}

}  // namespace skyssl::prep
