#include "skyssl/serve/search_service.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/types.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cmath>
#include <fstream>

#include "skyssl/core/error.hpp"
#include "skyssl/core/log.hpp"
#include "skyssl/data/archive.hpp"
#include "skyssl/embed/cutout.hpp"
#include "skyssl/embed/cutout_embedder.hpp"
#include "skyssl/embed/embedding_reader.hpp"
#include "skyssl/search/neighbour_gallery.hpp"
#include "skyssl/serve/field_table.hpp"
#include "skyssl/serve/http_error.hpp"
#include "skyssl/serve/sky_index.hpp"

namespace fs = std::filesystem;

namespace skyssl::serve {
namespace {

// One value of a parameter; a parameter given twice is an error rather than a silent choice.
const std::string* single(const query_params& p, const std::string& name) {
  const auto [b, e] = p.equal_range(name);
  if (b == e) return nullptr;
  if (std::next(b) != e) throw bad_request(fmt::format("{}: given more than once", name));
  return &b->second;
}

const char* const query_keys[] = {
    "row",    "id",   "ra", "dec", "radius_arcsec", "k", "space", "nprobe", "exclude_within_arcsec",
    "format", "token"};

bool is_query_key(const std::string& k) {
  return std::find(std::begin(query_keys), std::end(query_keys), k) != std::end(query_keys);
}

// A cutout upload kept in a file of the service's own naming (read_cutout reads files), removed
// when the request is done. No part of a client's request names a path.
class upload_file {
 public:
  upload_file(const fs::path& dir, const std::string& body, const std::string& ext) {
    static std::atomic<std::uint64_t> counter{0};
    path_ = dir / fmt::format("upload-{}{}", counter++, ext);
    std::ofstream f(path_, std::ios::binary | std::ios::trunc);
    f.write(body.data(), static_cast<std::streamsize>(body.size()));
    f.close();
    if (!f) throw error(fmt::format("cannot keep an upload in '{}'", dir.string()));
  }
  ~upload_file() {
    std::error_code ec;
    fs::remove(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (auto at = s.find(from); !from.empty() && at != std::string::npos;
       at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

}  // namespace

search_service::search_service(const service_options& o) : o_(o) {
  const auto t0 = std::chrono::steady_clock::now();
  if (o_.embeddings.empty()) {
    if (o_.run_dir.empty())
      throw config_error("give --embeddings, or --run-dir of a run with embeddings.h5");
    o_.embeddings = o_.run_dir / "embeddings.h5";
  }
  e_ = std::make_unique<embed::embedding_reader>(o_.embeddings);
  e_->require_complete();
  o_.space = search::choose_space(*e_, o_.space);
  auto opened = search::open_index(o_.index, *e_, o_.space, o_.build);
  index_ = std::make_unique<search::search_index>(std::move(opened.index));
  if (opened.built && !o_.index.empty()) {
    index_->save(o_.index);
    log::info("saved {}", o_.index.string());
  }
  index_->index().set_search_options(o_.search);

  fields_ = std::make_unique<field_table>(*e_);
  ra_field_ = fields_->find_field("ra");
  dec_field_ = fields_->find_field("dec");
  if (ra_field_ >= 0 && dec_field_ >= 0 && fields_->doubles(ra_field_) &&
      fields_->doubles(dec_field_)) {
    sky_ = std::make_unique<sky_index>(fields_->doubles(ra_field_), fields_->doubles(dec_field_),
                                       fields_->rows());
  } else {
    ra_field_ = dec_field_ = -1;
    log::info(
        "'{}' has no floating ra and dec fields: no queries by position, no duplicate "
        "suppression",
        o_.embeddings.string());
  }

  if (!o_.run_dir.empty()) embedder_ = std::make_unique<embed::cutout_embedder>(o_.run_dir, *e_);

  auto archive = o_.archive;
  if (archive.empty() && !e_->source().empty() && fs::exists(e_->source()))
    archive = {e_->source()};
  if (!archive.empty()) {
    data::archive_options ao;
    ao.paths = archive;
    archive_ = std::make_unique<data::archive>(ao);
    if (archive_->size() != e_->rows())
      throw data_error(
          fmt::format("--archive has {} rows, '{}' {}: pass the archive it was embedded from",
                      archive_->size(), o_.embeddings.string(), e_->rows()));
    display_ = search::display_config(*archive_, o_.run_dir);
  } else {
    log::info("no archive (the embedding file's source is not here): no tiles; pass --archive");
  }

  // Uploads are read from files of our own naming in a directory of our own (read_cutout reads
  // files); TMPDIR is the operator's choice, never a client's.
  const char* tmp = std::getenv("TMPDIR");
  std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/skyssl-serve-XXXXXX";
  if (!::mkdtemp(tmpl.data()))
    throw error(fmt::format("cannot make a directory for uploads ('{}')", tmpl));
  upload_dir_ = tmpl;
  load_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

search_service::~search_service() {
  std::error_code ec;
  fs::remove_all(upload_dir_, ec);
}

std::int64_t search_service::rows() const { return e_->rows(); }

std::size_t search_service::table_bytes() const {
  return fields_->bytes() + (sky_ ? sky_->bytes() : 0);
}

nlohmann::json search_service::info() const {
  const auto& ix = index_->index();
  return {{"run", o_.run_dir.empty() ? "" : o_.run_dir.filename().string()},
          {"embeddings", o_.embeddings.filename().string()},
          {"arch", e_->arch()},
          {"rows", e_->rows()},
          {"space", o_.space},
          {"spaces", e_->spaces()},
          {"dim", ix.dim()},
          {"index", ix.description()},
          {"nlist", ix.nlist()},
          {"nprobe", ix.nprobe()},
          {"nprobe_per_query", ix.takes_nprobe_per_query()},
          {"fields", fields_->names()},
          {"positions", sky_ != nullptr},
          {"tiles", archive_ != nullptr},
          {"uploads", embedder_ != nullptr},
          {"load_seconds", load_seconds_},
          {"defaults",
           {{"k", o_.default_k},
            {"exclude_within_arcsec", sky_ ? o_.default_exclude_arcsec : 0.0},
            {"radius_arcsec", o_.default_radius_arcsec}}},
          {"limits",
           {{"k", o_.limits.max_k},
            {"filters", o_.limits.max_filters},
            {"tile_px", o_.limits.max_tile_px},
            {"radius_arcsec", o_.limits.max_radius_arcsec},
            {"upload_values", o_.limits.max_upload_values},
            {"upload_images", o_.limits.max_upload_images}}}};
}

std::vector<float> search_service::row_vector(std::int64_t row) const {
  std::vector<float> v(static_cast<std::size_t>(e_->dim(o_.space)));
  e_->read(o_.space, row, 1, v.data());
  return v;
}

neighbour_query search_service::parse_upload_query(const query_params& p, const std::string& body,
                                                   const std::string& content_type) const {
  for (const char* k : {"row", "id", "ra", "dec", "radius_arcsec"})
    if (p.count(k))
      throw bad_request(
          fmt::format("{}: a POST searches for its uploaded cutout; give the galaxy "
                      "by {} with GET",
                      k, k));
  query_params with_row = p;
  with_row.emplace("row", "0");  // a stand-in, replaced below: the rest is parsed as for GET
  auto q = parse_query(with_row);
  std::int64_t n = 0;
  q.vector = upload_vectors(body, content_type, n);
  if (n != 1)
    throw bad_request(fmt::format(
        "the upload holds {} images; POST /api/neighbours searches for one (POST /api/embed "
        "takes several)",
        n));
  q.row = -1;
  q.label = "upload";
  return q;
}

neighbour_query search_service::parse_query(const query_params& p) const {
  neighbour_query q;
  const auto& lim = o_.limits;
  // Every key is a known parameter or a field (a range filter); anything else is a mistake.
  std::vector<std::string> seen;
  for (const auto& [key, value] : p) {
    if (std::find(seen.begin(), seen.end(), key) != seen.end())
      throw bad_request(fmt::format("{}: given more than once", key));
    seen.push_back(key);
    if (is_query_key(key)) continue;
    const int f = fields_->find_field(key);
    if (f < 0)
      throw bad_request(
          fmt::format("unknown parameter '{}' (row, id, ra, dec, radius_arcsec, k, space, nprobe, "
                      "exclude_within_arcsec, format, or a field for a range: {})",
                      key.substr(0, 40), fmt::join(fields_->names(), ", ")));
    if (static_cast<int>(q.filters.size()) >= lim.max_filters)
      throw bad_request(fmt::format("at most {} range filters", lim.max_filters));
    q.filters.emplace_back(f, parse_range(value, key));
  }
  if (const auto* s = single(p, "space"); s && *s != o_.space)
    throw bad_request(
        fmt::format("space: the service searches /{}, not '{}'", o_.space, s->substr(0, 40)));
  if (const auto* f = single(p, "format")) {
    if (*f != "json" && *f != "csv") throw bad_request("format: 'json' or 'csv'");
    q.csv = *f == "csv";
  }
  const std::int64_t max_k = std::min(lim.max_k, e_->rows());
  q.k = o_.default_k <= max_k ? o_.default_k : max_k;
  if (const auto* k = single(p, "k")) q.k = parse_bounded_int(*k, "k", 1, max_k);
  if (const auto* n = single(p, "nprobe")) {
    const auto& ix = index_->index();
    if (!ix.takes_nprobe_per_query())
      throw bad_request(
          fmt::format("nprobe: the '{}' index takes it only at start (skyssl-serve --nprobe)",
                      ix.description()));
    q.nprobe = parse_bounded_int(*n, "nprobe", 1, ix.nlist());
  }
  q.exclude_within_arcsec = sky_ ? o_.default_exclude_arcsec : 0.0;
  if (const auto* x = single(p, "exclude_within_arcsec")) {
    q.exclude_within_arcsec = parse_real(*x, "exclude_within_arcsec");
    if (q.exclude_within_arcsec < 0 || q.exclude_within_arcsec > lim.max_radius_arcsec)
      throw bad_request(fmt::format("exclude_within_arcsec: {} is outside [0, {}]",
                                    q.exclude_within_arcsec, lim.max_radius_arcsec));
    if (q.exclude_within_arcsec > 0 && !sky_)
      throw bad_request("exclude_within_arcsec: the embedding file has no ra and dec fields");
  }

  const auto* row = single(p, "row");
  const auto* id = single(p, "id");
  const auto* ra = single(p, "ra");
  const auto* dec = single(p, "dec");
  const int given = (row != nullptr) + (id != nullptr) + (ra || dec ? 1 : 0);
  if (given != 1) throw bad_request("give one galaxy: row=R, id=FIELD:VALUE, or ra=..&dec=..");
  if (!(ra || dec) && single(p, "radius_arcsec"))
    throw bad_request("radius_arcsec: only with ra and dec");
  if (row) {
    q.row = parse_int(*row, "row");
    if (q.row < 0 || q.row >= e_->rows())
      throw not_found(fmt::format("row {}: the service has rows 0 to {}", q.row, e_->rows() - 1));
    q.label = fmt::format("row {}", q.row);
  } else if (id) {
    const auto colon = id->find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == id->size())
      throw bad_request("id: give FIELD:VALUE, e.g. id=objid:1234");
    const std::string field = id->substr(0, colon), value = id->substr(colon + 1);
    const int f = fields_->find_field(field);
    if (f < 0)
      throw bad_request(fmt::format("id: no field '{}' (fields: {})", field.substr(0, 40),
                                    fmt::join(fields_->names(), ", ")));
    const auto hits = fields_->rows_equal(f, value);
    if (hits.empty())
      throw not_found(fmt::format("id: no galaxy has {} = {}", field, value.substr(0, 40)));
    q.row = hits.front();
    q.label = fmt::format("{}={} (row {})", field, value, q.row);
  } else {
    if (!ra || !dec) throw bad_request("give both ra and dec");
    if (!sky_) throw bad_request("ra, dec: the embedding file has no ra and dec fields");
    const double a = parse_ra(*ra), d = parse_dec(*dec);
    double radius = o_.default_radius_arcsec;
    if (const auto* r = single(p, "radius_arcsec")) {
      radius = parse_real(*r, "radius_arcsec");
      if (radius <= 0 || radius > lim.max_radius_arcsec)
        throw bad_request(
            fmt::format("radius_arcsec: {} is outside (0, {}]", radius, lim.max_radius_arcsec));
    }
    const auto hit = sky_->nearest(a, d);
    if (hit.row < 0 || hit.separation_arcsec > radius)
      throw not_found(
          fmt::format("no galaxy within {} arcsec of ra {:.6f}, dec {:.6f}{}", radius, a, d,
                      hit.row < 0 ? std::string()
                                  : fmt::format(" (the nearest, row {}, is {:.1f} arcsec away)",
                                                hit.row, hit.separation_arcsec)));
    q.row = hit.row;
    q.asked_ra = a;
    q.asked_dec = d;
    q.separation_arcsec = hit.separation_arcsec;
    q.label = fmt::format("ra={:.6f} dec={:.6f} (row {})", a, d, q.row);
  }
  q.vector = row_vector(q.row);
  return q;
}

neighbour_result search_service::neighbours(const neighbour_query& q) const {
  const auto& ix = index_->index();
  const std::int64_t all = std::min(ix.size(), o_.limits.max_candidates);
  const bool sifting = !q.filters.empty() || q.exclude_within_arcsec > 0;
  std::int64_t fetch = sifting ? std::min(all, std::max<std::int64_t>(4 * q.k, q.k + 32)) : q.k;
  const double* ra = sky_ ? fields_->doubles(ra_field_) : nullptr;
  const double* dec = sky_ ? fields_->doubles(dec_field_) : nullptr;
  for (;;) {
    const auto nn = q.nprobe > 0 ? ix.search_nprobe(q.vector.data(), 1, fetch, q.nprobe)
                                 : ix.search(q.vector.data(), 1, fetch);
    neighbour_result r;
    r.candidates = fetch;
    for (std::int64_t j = 0; j < nn.k && static_cast<std::int64_t>(r.rows.size()) < q.k; ++j) {
      const auto row = nn.ids[j];
      if (row < 0) continue;  // an approximate index found fewer
      bool keep = true;
      for (const auto& [f, range] : q.filters)
        if (!range.contains(fields_->number(f, row))) keep = false;
      if (keep && q.exclude_within_arcsec > 0) {
        // Duplicate suppression: not within the radius of the query galaxy or of a neighbour
        // already kept (shredded galaxies, the same galaxy twice).
        auto close = [&](std::int64_t other) {
          return separation_arcsec(ra[row], dec[row], ra[other], dec[other]) <
                 q.exclude_within_arcsec;
        };
        if (q.row >= 0 && close(q.row)) keep = false;
        for (std::size_t i = 0; keep && i < r.rows.size(); ++i)
          if (close(r.rows[i])) keep = false;
      }
      if (!keep) continue;
      r.rows.push_back(row);
      r.cosine.push_back(nn.scores[j]);
    }
    if (static_cast<std::int64_t>(r.rows.size()) >= q.k || fetch >= all) return r;
    fetch = std::min(all, fetch * 4);
  }
}

nlohmann::json search_service::to_json(const neighbour_query& q, const neighbour_result& r) const {
  auto fields_of = [&](std::int64_t row, nlohmann::json& out) {
    for (std::size_t f = 0; f < fields_->names().size(); ++f)
      out[fields_->names()[f]] = fields_->json(static_cast<int>(f), row);
  };
  nlohmann::json query = {{"label", q.label}, {"row", q.row}};
  if (q.row >= 0) fields_of(q.row, query);
  if (q.separation_arcsec) {
    query["asked_ra"] = *q.asked_ra;
    query["asked_dec"] = *q.asked_dec;
    query["separation_arcsec"] = *q.separation_arcsec;
  }
  nlohmann::json list = nlohmann::json::array();
  for (std::size_t i = 0; i < r.rows.size(); ++i) {
    nlohmann::json n = {{"row", r.rows[i]}, {"cosine", r.cosine[i]}};
    fields_of(r.rows[i], n);
    list.push_back(std::move(n));
  }
  nlohmann::json filters = nlohmann::json::object();
  for (const auto& [f, range] : q.filters) {
    auto end = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); };
    filters[fields_->names()[f]] = {end(range.lo), end(range.hi)};
  }
  const auto& ix = index_->index();
  return {{"query", std::move(query)},
          {"index", ix.description()},
          {"space", o_.space},
          {"k", q.k},
          {"nprobe", q.nprobe > 0 ? q.nprobe : ix.nprobe()},
          {"exclude_within_arcsec", q.exclude_within_arcsec},
          {"filters", std::move(filters)},
          {"candidates", r.candidates},
          {"neighbours", std::move(list)}};
}

std::string search_service::to_csv(const neighbour_query&, const neighbour_result& r) const {
  std::string out = "rank,row,cosine";
  for (const auto& f : fields_->names()) out += "," + f;
  out += "\n";
  for (std::size_t i = 0; i < r.rows.size(); ++i) {
    out += fmt::format("{},{},{}", i + 1, r.rows[i], r.cosine[i]);
    for (std::size_t f = 0; f < fields_->names().size(); ++f)
      out += "," + fields_->text(static_cast<int>(f), r.rows[i]);
    out += "\n";
  }
  return out;
}

std::vector<float> search_service::upload_vectors(const std::string& body,
                                                  const std::string& content_type,
                                                  std::int64_t& count) const {
  if (!embedder_) throw http_error(404, "this service embeds no uploads: start it with --run-dir");
  const auto type = content_type.substr(0, content_type.find(';'));
  const bool fits_type = type == "application/fits" || type == "image/fits";
  const bool h5_type = type == "application/x-hdf5" || type == "application/x-hdf";
  if (!fits_type && !h5_type && type != "application/octet-stream")
    throw http_error(415, fmt::format("Content-Type '{}': send a cutout as application/fits, "
                                      "application/x-hdf5 or application/octet-stream",
                                      type.substr(0, 60)));
  if (body.empty()) throw bad_request("the upload is empty: send a FITS or HDF5 cutout");
  // What the bytes are decides how they are read, not what the client says they are.
  const bool is_fits = body.compare(0, 9, "SIMPLE  =") == 0;
  const bool is_h5 = body.compare(0, 8, "\x89HDF\r\n\x1a\n") == 0;
  if (!is_fits && !is_h5)
    throw bad_request("the upload is neither a FITS file (SIMPLE = T) nor an HDF5 file");
  if ((fits_type && !is_fits) || (h5_type && !is_h5))
    throw http_error(415, fmt::format("Content-Type '{}' but the upload is {}", type,
                                      is_fits ? "FITS" : "HDF5"));
  const upload_file file(upload_dir_, body, is_fits ? ".fits" : ".h5");
  try {
    const auto images = embed::read_cutout(file.path(), o_.limits.max_upload_values);
    count = images.size(0);
    if (count > o_.limits.max_upload_images)
      throw bad_request(fmt::format("the upload holds {} images, at most {} are embedded at once",
                                    count, o_.limits.max_upload_images));
    const auto v = embedder_->embed(images, o_.space, "the upload");
    return {v.data_ptr<float>(), v.data_ptr<float>() + v.numel()};
  } catch (const http_error&) {
    throw;
  } catch (const std::exception& ex) {
    // The reader names the file: the client knows it as "the upload", not by our path.
    throw bad_request(
        replace_all(replace_all(ex.what(), "'" + file.path().string() + "'", "the upload"),
                    file.path().string(), "the upload"));
  }
}

nlohmann::json search_service::embed(const std::string& body, const std::string& content_type,
                                     const query_params& p) const {
  for (const auto& [key, value] : p)
    if (key != "token")
      throw bad_request(
          fmt::format("unknown parameter '{}' (POST /api/embed takes none)", key.substr(0, 40)));
  std::int64_t n = 0;
  const auto v = upload_vectors(body, content_type, n);
  const int d = e_->dim(o_.space);
  nlohmann::json vectors = nlohmann::json::array();
  for (std::int64_t i = 0; i < n; ++i)
    vectors.push_back(std::vector<float>(v.begin() + i * d, v.begin() + (i + 1) * d));
  return {{"space", o_.space}, {"dim", d}, {"vectors", std::move(vectors)}};
}

std::string search_service::tile(const std::string& row_text, const query_params& p) const {
  if (!archive_)
    throw http_error(404, "this service has no archive for tiles: start it with --archive");
  for (const auto& [key, value] : p)
    if (key != "size" && key != "stretch" && key != "token")
      throw bad_request(
          fmt::format("unknown parameter '{}' (tiles take size, stretch)", key.substr(0, 40)));
  const auto row = parse_int(row_text, "tile row");
  if (row < 0 || row >= archive_->size())
    throw not_found(
        fmt::format("tile row {}: the archive has rows 0 to {}", row, archive_->size() - 1));
  auto display = display_;
  int zoom = std::max(1, (96 + display.crop_w - 1) / display.crop_w);
  if (const auto* s = single(p, "size")) {
    const auto px = parse_bounded_int(*s, "size", 8, o_.limits.max_tile_px);
    zoom =
        std::max<int>(1, static_cast<int>(std::lround(static_cast<double>(px) / display.crop_w)));
    while (zoom > 1 && zoom * display.crop_w > o_.limits.max_tile_px) --zoom;
  }
  if (const auto* s = single(p, "stretch")) {
    // The arcsinh softening Q of the gallery's stretch: larger shows fainter structure.
    const double q = parse_real(*s, "stretch");
    if (q <= 0 || q > 100) throw bad_request(fmt::format("stretch: {} is outside (0, 100]", q));
    display.stretch_q = static_cast<float>(q);
  }
  auto image = torch::empty({archive_->channels(), archive_->height(), archive_->width()});
  archive_->read_images(row, 1, image.data_ptr<float>());
  return search::tile_png(image, display, zoom);
}

}  // namespace skyssl::serve
