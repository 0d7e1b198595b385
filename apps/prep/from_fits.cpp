// skyssl-prep from-fits: an archive from a directory of FITS cutouts plus a catalogue CSV.
// One CSV row per object, in archive order; the `--id-column` value names its file(s) through
// --pattern: "{id}.fits" for one (C,H,W) cube per object (NAXIS3 = bands), or a pattern with
// "{band}", e.g. "{id}_{band}.fits", for one 2-D image per band. Every other CSV column
// becomes a 1-D field (integers -> int64, ra/dec -> float64, other numbers -> float32).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>

#include "apps/prep/commands.hpp"
#include "skyssl/core/error.hpp"
#include "skyssl/core/log.hpp"
#include "skyssl/core/surveys.hpp"
#include "skyssl/data/catalog_csv.hpp"
#include "skyssl/data/fits_image.hpp"
#include "skyssl/core/durable_file.hpp"
#include "skyssl/data/writer.hpp"

namespace fs = std::filesystem;

namespace skyssl::prep {

namespace {

struct fits_args {
  std::string dir, catalog, out, pattern = "{id}.fits", id_column = "id", bands = "g,r,z", survey;
  double pixel_scale = surveys::decals.pixel_scale;
};

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      out.push_back(cur);
      cur.clear();
    } else if (c != '\r') {
      cur.push_back(c);
    }
  }
  out.push_back(cur);
  for (auto& v : out) {
    const auto b = v.find_first_not_of(" \t"), e = v.find_last_not_of(" \t");
    v = b == std::string::npos ? "" : v.substr(b, e - b + 1);
  }
  return out;
}

std::string substitute(std::string pattern, const std::string& key, const std::string& value) {
  for (auto p = pattern.find(key); p != std::string::npos; p = pattern.find(key, p + value.size()))
    pattern.replace(p, key.size(), value);
  return pattern;
}

// True when `p` lies inside `dir` (both canonical): a comparison of path components, so
// "/data/cut" does not contain "/data/cutouts2/x.fits".
bool inside(const fs::path& dir, const fs::path& p) {
  auto d = dir.begin(), q = p.begin();
  for (; d != dir.end(); ++d, ++q) {
    if (d->empty()) continue;  // a trailing separator
    if (q == p.end() || *d != *q) return false;
  }
  return q != p.end();
}

// The cutout file of one catalogue row, which must stay inside --dir: a name from a catalogue
// (someone else's file) must not reach "../../etc/passwd" or an absolute path, nor leave
// through a symbolic link inside --dir (resolved, then compared with --dir's real path).
fs::path cutout_path(const fits_args& a, const fs::path& real_dir, const data::catalog& cat,
                     std::size_t row, const std::string& name) {
  const fs::path rel(name);
  bool escapes = rel.has_root_path() || rel.empty();
  for (const auto& part : rel) escapes = escapes || part == "..";
  if (escapes)
    throw data_error(fmt::format(
        "catalogue '{}' data row {} (line {}): the cutout name '{}' is empty, absolute or leaves "
        "--dir with '..'",
        cat.source, row + 1, cat.lines[row], name));
  const fs::path path = fs::path(a.dir) / rel;
  std::error_code ec;
  const fs::path real = fs::weakly_canonical(path, ec);
  if (ec)
    throw data_error(
        fmt::format("catalogue '{}' data row {} (line {}): the cutout '{}' cannot be "
                    "resolved: {}",
                    cat.source, row + 1, cat.lines[row], path.string(), ec.message()));
  if (!inside(real_dir, real))
    throw data_error(fmt::format(
        "catalogue '{}' data row {} (line {}): the cutout '{}' resolves through a symbolic link to "
        "'{}', "
        "outside --dir '{}'",
        cat.source, row + 1, cat.lines[row], path.string(), real.string(), real_dir.string()));
  return path;
}

void run_from_fits(const fits_args& a) {
  if (log::world() > 1) throw config_error("from-fits runs on one rank (start it without mpirun)");
  refuse_output_over_input(a.out, {a.catalog}, "--out");
  const auto cat = data::read_catalog_csv(a.catalog);
  std::error_code dir_ec;
  const fs::path real_dir = fs::canonical(a.dir, dir_ec);
  if (dir_ec || !fs::is_directory(real_dir))
    throw data_error(fmt::format("from-fits: --dir '{}' is not a readable directory{}", a.dir,
                                 dir_ec ? " (" + dir_ec.message() + ")" : std::string()));
  const auto id_it = std::find(cat.columns.begin(), cat.columns.end(), a.id_column);
  if (id_it == cat.columns.end())
    throw data_error(fmt::format("catalogue '{}' has no column '{}' (columns: {})", a.catalog,
                                 a.id_column, fmt::join(cat.columns, ", ")));
  const std::size_t id_col = static_cast<std::size_t>(id_it - cat.columns.begin());
  std::vector<std::string> bands;
  for (auto& b : split(a.bands, ','))
    if (!b.empty()) bands.push_back(b);
  const bool per_band = a.pattern.find("{band}") != std::string::npos;

  // Column types and values; integer columns (64-bit ids) exact, bad values named by row.
  std::vector<data::catalog_column> values;
  for (std::size_t c = 0; c < cat.columns.size(); ++c)
    values.push_back(data::type_column(cat, c, c == id_col));
  const bool id_numeric = values[id_col].type != data::catalog_column::text;
  const std::int64_t n = static_cast<std::int64_t>(cat.rows.size());
  int C = 0, H = 0, W = 0;
  auto load = [&](std::size_t r, std::vector<float>& out) {
    const auto& id = cat.rows[r][id_col];
    if (!per_band) {
      const auto path =
          cutout_path(a, real_dir, cat, r, substitute(a.pattern, "{id}", id)).string();
      std::vector<long> dims;
      out = data::read_fits_image(path, dims);
      const int c = dims.size() == 3 ? static_cast<int>(dims[2]) : 1;
      const int h = static_cast<int>(dims[1]), w = static_cast<int>(dims[0]);
      if (C == 0) {
        C = c;
        H = h;
        W = w;
      }
      if (c != C || h != H || w != W)
        throw archive_error(fmt::format(
            "FITS file '{}' is {}x{}x{} (bands x height x width), the first was {}x{}x{}", path, c,
            h, w, C, H, W));
      return;
    }
    out.clear();
    for (const auto& b : bands) {
      const auto path = cutout_path(a, real_dir, cat, r,
                                    substitute(substitute(a.pattern, "{id}", id), "{band}", b))
                            .string();
      std::vector<long> dims;
      auto px = data::read_fits_image(path, dims);
      if (dims.size() != 2)
        throw archive_error(
            fmt::format("FITS file '{}' has {} axes, a per-band file needs 2", path, dims.size()));
      const int h = static_cast<int>(dims[1]), w = static_cast<int>(dims[0]);
      if (C == 0) {
        C = static_cast<int>(bands.size());
        H = h;
        W = w;
      }
      if (h != H || w != W)
        throw archive_error(
            fmt::format("FITS file '{}' is {}x{}, the first was {}x{}", path, h, w, H, W));
      out.insert(out.end(), px.begin(), px.end());
    }
  };
  std::vector<float> img;
  load(0, img);
  if (static_cast<int>(bands.size()) != C)
    throw config_error(
        fmt::format("from-fits: --bands has {} bands [{}] but the cubes have {} planes",
                    bands.size(), fmt::join(bands, ","), C));
  data::writer_options wo;
  wo.path = a.out;
  wo.count = n;
  wo.channels = C;
  wo.height = H;
  wo.width = W;
  wo.bands = bands;
  wo.pixel_scale = a.pixel_scale;
  wo.survey = a.survey;
  for (std::size_t c = 0; c < cat.columns.size(); ++c) {
    if (c == id_col && !id_numeric) continue;
    const auto& name =
        c == id_col && cat.columns[c] == "id" ? std::string("objid") : cat.columns[c];
    const auto t = values[c].type == data::catalog_column::integer ? data::field_type::i64
                   : (name == "ra" || name == "dec")               ? data::field_type::f64
                                                                   : data::field_type::f32;
    wo.fields.push_back({name, t});
  }
  data::archive_writer w(wo);
  for (std::int64_t r = 0; r < n; ++r) {
    if (r > 0) load(static_cast<std::size_t>(r), img);
    w.write_images(r, 1, img.data());
  }
  std::size_t fi = 0;
  for (std::size_t c = 0; c < cat.columns.size(); ++c) {
    if (c == id_col && !id_numeric) continue;
    const auto& spec = wo.fields[fi++];
    const auto& v = values[c].reals;
    if (spec.type == data::field_type::i64) {
      w.write_field(spec.name, 0, n, values[c].ints.data());
    } else if (spec.type == data::field_type::f64) {
      w.write_field(spec.name, 0, n, v.data());
    } else {
      std::vector<float> fv(v.begin(), v.end());
      w.write_field(spec.name, 0, n, fv.data());
    }
  }
  w.close();
  log::info("from-fits: wrote {} objects ({}x{}x{}, bands {}) and {} fields to {}", n, C, H, W,
            fmt::join(bands, ""), wo.fields.size(), a.out);
}

}  // namespace

command add_from_fits(CLI::App& app) {
  auto a = std::make_shared<fits_args>();
  app.add_option("--dir", a->dir, "directory holding the FITS cutouts")->required();
  app.add_option("--catalog", a->catalog, "catalogue CSV: header line, one row per object")
      ->required();
  app.add_option("--out", a->out, "output archive (.h5)")->required();
  app.add_option("--pattern", a->pattern, "file name from {id} (and {band} for one file per band)")
      ->capture_default_str();
  app.add_option("--id-column", a->id_column, "CSV column that names the files")
      ->capture_default_str();
  app.add_option("--bands", a->bands, "band names, comma-separated, in channel order")
      ->capture_default_str();
  app.add_option("--pixel-scale", a->pixel_scale, "arcsec per pixel")->capture_default_str();
  app.add_option("--survey", a->survey, "survey attribute (decals, sdss, ...)");
  return [a] { run_from_fits(*a); };
}

}  // namespace skyssl::prep
