// skyssl-serve's JSON API end to end on 127.0.0.1, on embedding files written here: the same
// neighbours as skyssl-search from the same index; positions resolved as brute force resolves
// them; duplicate suppression and range filters as a brute-force reference applies them; CSV;
// tiles; every bad request a 4xx with a one-line JSON error while the server keeps serving;
// the token; 503 when the queue is full; SIGTERM during load exits cleanly.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/serve/serve_process.hpp"
#include "tests/support/clustered_vectors.hpp"
#include "tests/support/embedding_files.hpp"
#include "tests/support/run_command.hpp"
#include "tests/support/synth_survey.hpp"
#include "tests/support/test_paths.hpp"

namespace fs = std::filesystem;
using namespace skyssl;
using json = nlohmann::json;

namespace {

constexpr int rows = 300, dim = 32;
constexpr double pi = 3.14159265358979323846;

const fs::path& dir() {
  static const fs::path d = test::tmp_dir("serve_api");
  return d;
}

// Rows 0-2 are the same galaxy three times over in embedding space; row 1 sits 8 arcsec from
// row 0 on the sky (a shredded duplicate), row 2 far away (a true look-alike).
struct table {
  std::vector<float> backbone;
  std::vector<std::int64_t> objid;
  std::vector<double> ra, dec, z_phot, mag_r;
};

const table& rows_table() {
  static const table t = [] {
    table t;
    t.backbone = test::clustered_vectors(dim, 8, 0.8f, 31).rows(0, rows);
    std::mt19937_64 rng(5);
    std::uniform_real_distribution<double> u(0, 1);
    for (int i = 0; i < rows; ++i) {
      t.objid.push_back(1000 + 2 * i);
      t.ra.push_back(150 + u(rng));  // a 1 x 1 degree field
      t.dec.push_back(2 + u(rng));
      t.z_phot.push_back(u(rng));
      t.mag_r.push_back(15 + 7 * u(rng));
    }
    for (int r = 1; r <= 2; ++r)
      for (int j = 0; j < dim; ++j)
        t.backbone[r * dim + j] = t.backbone[j] * (1.0f + 1e-3f * r * (j % 3 == 0 ? 1 : -1));
    t.ra[1] = t.ra[0] + 8.0 / 3600 / std::cos(t.dec[0] * pi / 180);
    t.dec[1] = t.dec[0];
    return t;
  }();
  return t;
}

double haversine_arcsec(double ra1, double dec1, double ra2, double dec2) {
  const double r = pi / 180;
  const double s = std::sin((dec2 - dec1) * r / 2), t = std::sin((ra2 - ra1) * r / 2);
  const double h = s * s + std::cos(dec1 * r) * std::cos(dec2 * r) * t * t;
  return 2 * std::asin(std::min(1.0, std::sqrt(h))) / r * 3600;
}

struct files {
  fs::path survey, emb, index;
};

// survey.h5 (synthetic galaxies, for tiles), emb.h5, and an exact ivf-flat index that
// skyssl-search built and saved.
const files& fixture() {
  static const files f = [] {
    files f{dir() / "survey.h5", dir() / "emb.h5", dir() / "emb.ivf"};
    test::write_synth_survey(f.survey, 2, rows, 16);
    test::embedding_file_spec spec;
    spec.source = f.survey.string();
    spec.spaces["backbone"] = {dim, rows_table().backbone};
    spec.int_fields["objid"] = rows_table().objid;
    spec.float_fields["ra"] = rows_table().ra;
    spec.float_fields["dec"] = rows_table().dec;
    spec.float_fields["z_phot"] = rows_table().z_phot;
    spec.float_fields["mag_r"] = rows_table().mag_r;
    test::write_embedding_file(f.emb, spec);
    fs::remove(f.index);
    auto b = test::run_command(
        fmt::format("{} --embeddings {} --index {} --kind ivf-flat --nlist 4",
                    skyssl::test::program("skyssl-search"), f.emb.string(), f.index.string()));
    REQUIRE_MESSAGE(b.status == 0, b.output);
    return f;
  }();
  return f;
}

std::string serve_command(const std::string& extra = "") {
  const auto& f = fixture();
  return fmt::format("{} --embeddings {} --index {} --nprobe 4 --listen 127.0.0.1:0 {}",
                     skyssl::test::program("skyssl-serve"), f.emb.string(), f.index.string(),
                     extra);
}

// One server for the read-only cases (started on first use, stopped at exit).
test::serve_process& server() {
  static test::serve_process p(serve_command(), dir() / "serve.log");
  static const bool ready = p.wait_ready();
  REQUIRE_MESSAGE(ready, p.output());
  return p;
}

struct reply {
  int status = 0;
  std::string body, content_type;
  json j() const { return json::parse(body); }
};

reply get(const std::string& target, const httplib::Headers& headers = {}) {
  httplib::Client c("127.0.0.1", server().port());
  c.set_read_timeout(60, 0);
  auto r = c.Get(target.c_str(), headers);
  REQUIRE_MESSAGE(r, "no answer to GET " << target << ": " << httplib::to_string(r.error()));
  return {r->status, r->body, r->get_header_value("Content-Type")};
}

// A request written by hand on a socket (what a client library would refuse to send), and
// the whole answer.
std::string raw_request(int port, const std::string& text) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::send(fd, text.data(), text.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(text.size()));
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) out.append(buf, n);
  ::close(fd);
  return out;
}

// The brute-force reference: every row by exact cosine, then the filters and the duplicate
// rule (not within `exclude` arcsec of the query galaxy or of a neighbour already kept).
std::vector<std::int64_t> reference(std::int64_t query, int k, double exclude, double z_lo = -1e300,
                                    double z_hi = 1e300, double mag_hi = 1e300) {
  const auto& t = rows_table();
  std::vector<float> q(t.backbone.begin() + query * dim, t.backbone.begin() + (query + 1) * dim);
  std::vector<std::int64_t> ids;
  std::vector<double> scores;
  test::brute_force_topk(t.backbone, q, dim, rows, ids, scores);
  std::vector<std::int64_t> kept;
  for (const auto r : ids) {
    if (static_cast<int>(kept.size()) == k) break;
    if (t.z_phot[r] < z_lo || t.z_phot[r] > z_hi || t.mag_r[r] > mag_hi) continue;
    if (exclude > 0) {
      bool close = haversine_arcsec(t.ra[r], t.dec[r], t.ra[query], t.dec[query]) < exclude;
      for (const auto o : kept)
        close = close || haversine_arcsec(t.ra[r], t.dec[r], t.ra[o], t.dec[o]) < exclude;
      if (close) continue;
    }
    kept.push_back(r);
  }
  return kept;
}

std::vector<std::int64_t> rows_of(const json& j) {
  std::vector<std::int64_t> out;
  for (const auto& n : j["neighbours"]) out.push_back(n["row"].get<std::int64_t>());
  return out;
}

}  // namespace

TEST_CASE("GET /api/info describes the service") {
  const auto r = get("/api/info");
  REQUIRE(r.status == 200);
  CHECK(r.content_type == "application/json");
  const auto j = r.j();
  CHECK(j["rows"] == rows);
  CHECK(j["dim"] == dim);
  CHECK(j["space"] == "backbone");
  CHECK(j["index"] == "IVF4,Flat");
  CHECK(j["nprobe"] == 4);
  CHECK(j["fields"] == json::array({"dec", "mag_r", "objid", "ra", "z_phot"}));
  CHECK(j["positions"] == true);
  CHECK(j["tiles"] == true);
  CHECK(j["uploads"] == false);
  CHECK(j["defaults"]["exclude_within_arcsec"] == 25);
}

TEST_CASE("GET /api/neighbours answers as skyssl-search does, from the same index") {
  const int k = 7;
  for (const auto& [serve_query, search_query] : std::vector<std::pair<std::string, std::string>>{
           {"row=5", "--row 5"}, {"id=objid:1154", "--id objid=1154"}}) {
    INFO(serve_query);
    const auto out = dir() / "search.json";
    auto s = test::run_command(
        fmt::format("{} --embeddings {} --index {} --nprobe 4 {} --k {} "
                    "--json {}",
                    skyssl::test::program("skyssl-search"), fixture().emb.string(),
                    fixture().index.string(), search_query, k, out.string()));
    REQUIRE_MESSAGE(s.status == 0, s.output);
    std::ifstream f(out);
    const auto want = json::parse(f)["queries"][0]["neighbours"];
    const auto r =
        get(fmt::format("/api/neighbours?{}&k={}&exclude_within_arcsec=0", serve_query, k));
    REQUIRE_MESSAGE(r.status == 200, r.body);
    const auto got = r.j()["neighbours"];
    REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      CHECK(got[i]["row"] == want[i]["row"]);
      CHECK(got[i]["cosine"].get<double>() == doctest::Approx(want[i]["score"].get<double>()));
      for (const char* field : {"objid", "ra", "dec", "z_phot", "mag_r"})
        CHECK(got[i][field] == want[i][field]);
    }
  }
  // And both as the brute-force reference.
  CHECK(rows_of(get("/api/neighbours?row=5&k=7&exclude_within_arcsec=0").j()) ==
        reference(5, 7, 0));
}

TEST_CASE("GET /api/neighbours?ra&dec resolves the nearest galaxy as brute force does") {
  const auto& t = rows_table();
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> u(0, 1);
  for (int i = 0; i < 40; ++i) {
    const double ra = 150 + u(rng), dec = 2 + u(rng);
    std::int64_t want = 0;
    for (std::int64_t r = 1; r < rows; ++r)
      if (haversine_arcsec(ra, dec, t.ra[r], t.dec[r]) <
          haversine_arcsec(ra, dec, t.ra[want], t.dec[want]))
        want = r;
    const double sep = haversine_arcsec(ra, dec, t.ra[want], t.dec[want]);
    const auto r =
        get(fmt::format("/api/neighbours?ra={:.8f}&dec={:.8f}&radius_arcsec=3600&k=3", ra, dec));
    REQUIRE_MESSAGE(r.status == 200, r.body);
    const auto q = r.j()["query"];
    CHECK(q["row"] == want);
    CHECK(q["objid"] == t.objid[want]);
    CHECK(q["separation_arcsec"].get<double>() == doctest::Approx(sep).epsilon(1e-6));
  }
  // Sexagesimal, at a galaxy's own position: RA 150.5 deg = 10:02:00, Dec +2.25 = +02:15:00.
  const auto r = get("/api/neighbours?ra=10:02:00&dec=%2B02:15:00&radius_arcsec=3600&k=1");
  REQUIRE_MESSAGE(r.status == 200, r.body);
  CHECK(r.j()["query"]["asked_ra"].get<double>() == doctest::Approx(150.5));
  CHECK(r.j()["query"]["asked_dec"].get<double>() == doctest::Approx(2.25));
  // Nothing within the radius: 404 naming the nearest.
  const auto far = get("/api/neighbours?ra=10&dec=-40");
  CHECK(far.status == 404);
  CHECK(far.j()["error"].get<std::string>().find("no galaxy within 10 arcsec") == 0);
}

TEST_CASE("duplicate suppression and range filters as the brute-force reference applies them") {
  // Without suppression rows 0, 1, 2 (one galaxy three times) lead the list.
  const auto all = rows_of(get("/api/neighbours?row=0&k=5&exclude_within_arcsec=0").j());
  CHECK(all == reference(0, 5, 0));
  REQUIRE(all.size() == 5);
  CHECK(std::vector<std::int64_t>(all.begin(), all.begin() + 3) ==
        std::vector<std::int64_t>{0, 1, 2});
  // The default 25 arcsec drops the query itself and its shredded copy 8 arcsec away, keeps
  // the look-alike far away on the sky.
  const auto dedup = rows_of(get("/api/neighbours?row=0&k=5").j());
  CHECK(dedup == reference(0, 5, 25));
  CHECK(dedup.front() == 2);
  CHECK(std::find(dedup.begin(), dedup.end(), 1) == dedup.end());
  // A wide radius drops more (neighbours close to each other too).
  CHECK(rows_of(get("/api/neighbours?row=7&k=10&exclude_within_arcsec=600").j()) ==
        reference(7, 10, 600));
  // Range filters, alone and together, both ends included.
  CHECK(rows_of(get("/api/neighbours?row=9&k=8&exclude_within_arcsec=0&z_phot=0.2:0.6").j()) ==
        reference(9, 8, 0, 0.2, 0.6));
  const auto both = get("/api/neighbours?row=9&k=8&z_phot=0.2:0.6&mag_r=:19");
  REQUIRE(both.status == 200);
  // Parsed once and kept: a range-for over `both.j()["neighbours"]` would iterate a temporary
  // that is destroyed before the loop runs (ASan: heap-use-after-free).
  const json both_json = both.j();
  CHECK(rows_of(both_json) == reference(9, 8, 25, 0.2, 0.6, 19));
  for (const auto& n : both_json["neighbours"]) {
    CHECK(n["mag_r"].get<double>() <= 19);
    CHECK(n["z_phot"].get<double>() >= 0.2);
  }
  // A filter nothing passes: an empty list, not an error.
  const auto none = get("/api/neighbours?row=9&k=8&mag_r=:1");
  CHECK(none.status == 200);
  CHECK(none.j()["neighbours"].empty());
}

TEST_CASE("format=csv holds the same neighbours with every field") {
  const auto j = get("/api/neighbours?row=12&k=6").j();
  const auto r = get("/api/neighbours?row=12&k=6&format=csv");
  REQUIRE(r.status == 200);
  CHECK(r.content_type == "text/csv");
  std::istringstream lines(r.body);
  std::string line;
  std::getline(lines, line);
  CHECK(line == "rank,row,cosine,dec,mag_r,objid,ra,z_phot");
  int n = 0;
  while (std::getline(lines, line)) {
    const auto& want = j["neighbours"][n];
    CHECK(line.rfind(fmt::format("{},{},", n + 1, want["row"].get<std::int64_t>()), 0) == 0);
    CHECK(line.find(fmt::format(",{},", want["objid"].get<std::int64_t>())) != std::string::npos);
    ++n;
  }
  CHECK(n == 6);
}

TEST_CASE("GET /api/tile/ROW.png: the archive's cutout as a PNG") {
  const auto r = get("/api/tile/5.png");
  REQUIRE_MESSAGE(r.status == 200, r.body);
  CHECK(r.content_type == "image/png");
  REQUIRE(r.body.size() > 24);
  CHECK(r.body.substr(1, 3) == "PNG");
  auto be = [&](int at) {
    const auto* b = reinterpret_cast<const unsigned char*>(r.body.data());
    return (b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3];
  };
  CHECK(be(16) == 96);  // 16 px crops zoomed to at least 96 px, as the gallery
  CHECK(be(20) == 96);
  const auto small = get("/api/tile/5.png?size=32&stretch=5");
  REQUIRE(small.status == 200);
  CHECK(small.body != r.body);
}

TEST_CASE("every bad request gets a 4xx and one line of JSON; the server keeps serving") {
  const std::vector<std::tuple<std::string, int, std::string>> cases = {
      {"/api/neighbours?row=300", 404, "row 300: the service has rows 0 to 299"},
      {"/api/neighbours?row=-1", 404, "row -1"},
      {"/api/neighbours?row=12abc", 400, "row: '12abc' is not an integer"},
      {"/api/neighbours?row=1.5", 400, "is not an integer"},
      {"/api/neighbours?id=objid:999", 404, "no galaxy has objid = 999"},
      {"/api/neighbours?id=objID:1000", 400, "no field 'objID'"},
      {"/api/neighbours?id=1000", 400, "FIELD:VALUE"},
      {"/api/neighbours?id=objid:abc", 400, "is not an integer"},
      {"/api/neighbours?ra=400&dec=0", 400, "ra: '400' is outside [0, 360)"},
      {"/api/neighbours?ra=10&dec=-91", 400, "dec: '-91' is outside [-90, 90]"},
      {"/api/neighbours?ra=abc&dec=1", 400, "ra: 'abc'"},
      {"/api/neighbours?ra=10", 400, "give both ra and dec"},
      {"/api/neighbours?ra=10&dec=1&radius_arcsec=0", 400, "radius_arcsec"},
      {"/api/neighbours?row=1&radius_arcsec=5", 400, "radius_arcsec: only with ra and dec"},
      {"/api/neighbours?row=1&k=1000000", 400, "k: 1000000 is outside [1, 100]"},
      {"/api/neighbours?row=1&k=0", 400, "k: 0 is outside"},
      {"/api/neighbours?row=1&nprobe=99", 400, "nprobe: 99 is outside [1, 4]"},
      {"/api/neighbours?row=1&space=projection", 400, "space: the service searches /backbone"},
      {"/api/neighbours?row=1&space=../../etc/passwd", 400, "space:"},
      {"/api/neighbours?row=/etc/passwd", 400, "row: '/etc/passwd' is not an integer"},
      {"/api/neighbours?row=1&format=xml", 400, "format: 'json' or 'csv'"},
      {"/api/neighbours?row=1&z_phot=0.5", 400, "z_phot: '0.5' is not a range"},
      {"/api/neighbours?row=1&colour=1:2", 400, "unknown parameter 'colour'"},
      {"/api/neighbours?row=1&row=2", 400, "row: given more than once"},
      {"/api/neighbours?row=1&exclude_within_arcsec=-3", 400, "exclude_within_arcsec"},
      {"/api/neighbours?row=1&id=objid:1000", 400, "give one galaxy"},
      {"/api/neighbours", 400, "give one galaxy"},
      {"/api/tile/300.png", 404, "tile row 300"},
      {"/api/tile/abc.png", 400, "tile row: 'abc' is not an integer"},
      {"/api/tile/1.png?size=100000", 400, "size: 100000 is outside [8, 512]"},
      {"/api/tile/1.png?stretch=-1", 400, "stretch"},
      {"/api/tile/1.png?path=/etc/passwd", 400, "unknown parameter 'path'"},
      {"/api/nothing", 404, "no such path"},
      {"/api/embed", 405, "not a method of this path"},
      {"/api/info?x=1", 400, "unknown parameter 'x'"},
  };
  for (const auto& [target, status, message] : cases) {
    INFO(target);
    const auto r = get(target);
    INFO(r.body);
    CHECK(r.status == status);
    CHECK(r.content_type == "application/json");
    CHECK(r.body.find('\n') == r.body.size() - 1);  // one line
    const auto j = json::parse(r.body);
    CHECK(j["error"].get<std::string>().find(message) != std::string::npos);
  }
  // Paths in the path: refused (400 when the text reaches the row parser, 404 when no route
  // matches), JSON either way, never a file.
  for (const char* target : {"/api/tile/..%2F..%2Fetc%2Fpasswd.png", "/../../etc/passwd",
                             "/api/tile/%2Fetc%2Fpasswd.png", "/index.html/../../etc/passwd"}) {
    INFO(target);
    const auto r = get(target);
    INFO(r.body);
    CHECK((r.status == 400 || r.status == 404));
    CHECK(json::parse(r.body).contains("error"));
    CHECK(r.body.find("root:") == std::string::npos);
  }
  // POSTs: no uploads without --run-dir; wrong content types; an oversized body.
  httplib::Client c("127.0.0.1", server().port());
  auto post = c.Post("/api/neighbours?k=3", "SIMPLE  =                    T", "application/fits");
  REQUIRE(post);
  CHECK(post->status == 404);
  CHECK(json::parse(post->body)["error"].get<std::string>().find("--run-dir") != std::string::npos);
  // A body over the limit is refused from its Content-Length, before it is read.
  const auto big = raw_request(server().port(),
                               "POST /api/embed HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                               "application/octet-stream\r\nContent-Length: 900000000\r\n"
                               "Connection: close\r\n\r\nSIMPLE");
  INFO(big);
  CHECK(big.rfind("HTTP/1.1 413", 0) == 0);
  CHECK(big.find("{\"error\":") != std::string::npos);
  // A malformed request line.
  CHECK(raw_request(server().port(), "BLAH\r\n\r\n").rfind("HTTP/1.1 400", 0) == 0);
  auto wrong_method = c.Post("/api/info", "", "text/plain");
  REQUIRE(wrong_method);
  CHECK(wrong_method->status == 405);
  // Still serving.
  CHECK(get("/api/info").status == 200);
  CHECK(get("/api/neighbours?row=3").status == 200);
  CHECK(server().running());
  // The access log has a line per request, without tokens.
  CHECK(server().output().find("access 127.0.0.1 GET /api/neighbours?row=300 404") !=
        std::string::npos);
}

TEST_CASE("the page is served from the program itself") {
  const auto page = get("/");
  REQUIRE(page.status == 200);
  CHECK(page.content_type.find("text/html") == 0);
  CHECK(page.body.find("<script src=\"app.js\">") != std::string::npos);
  const auto js = get("/app.js");
  CHECK(js.status == 200);
  CHECK(js.content_type.find("text/javascript") == 0);
  CHECK(get("/style.css").status == 200);
}

TEST_CASE("off loopback a token is required; with a token every API call needs it") {
  // Refused before loading anything (the test never listens off loopback).
  auto refused =
      test::run_command(fmt::format("{} --embeddings {} --listen 0.0.0.0:0",
                                    skyssl::test::program("skyssl-serve"), fixture().emb.string()));
  CHECK(refused.status != 0);
  CHECK(refused.output.find("skyssl-serve: --listen 0.0.0.0:0: not a loopback address") !=
        std::string::npos);
  CHECK(refused.output.find("--token") != std::string::npos);

  const auto token_file = dir() / "token";
  std::ofstream(token_file) << "s3cret-token\n";
  test::serve_process p(serve_command("--token-file " + token_file.string()),
                        dir() / "serve_token.log");
  REQUIRE_MESSAGE(p.wait_ready(), p.output());
  httplib::Client c("127.0.0.1", p.port());
  auto none = c.Get("/api/info");
  REQUIRE(none);
  CHECK(none->status == 401);
  CHECK(json::parse(none->body)["error"].get<std::string>().find("wants a token") !=
        std::string::npos);
  auto wrong = c.Get("/api/info", {{"Authorization", "Bearer nope"}});
  REQUIRE(wrong);
  CHECK(wrong->status == 401);
  auto bearer = c.Get("/api/neighbours?row=1", {{"Authorization", "Bearer s3cret-token"}});
  REQUIRE(bearer);
  CHECK(bearer->status == 200);
  auto param = c.Get("/api/neighbours?row=1&token=s3cret-token");
  REQUIRE(param);
  CHECK(param->status == 200);
  CHECK(p.output().find("s3cret-token") == std::string::npos);  // not in the access log
  CHECK(WEXITSTATUS(p.stop()) == 0);
}

TEST_CASE("a full queue answers 503 at once; SIGTERM during load exits cleanly") {
  test::serve_process p(serve_command("--workers 1 --queue 1"), dir() / "serve_busy.log");
  REQUIRE_MESSAGE(p.wait_ready(), p.output());
  // Two silent connections: the first holds the one worker (waiting for its request), the
  // second fills the queue; the third is answered 503 by the rejecting thread.
  auto connect_silent = [&] {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(p.port()));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    return fd;
  };
  const int held = connect_silent();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const int queued = connect_silent();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  {
    httplib::Client c("127.0.0.1", p.port());
    auto busy = c.Get("/api/info");
    REQUIRE(busy);
    CHECK(busy->status == 503);
    CHECK(json::parse(busy->body)["error"].get<std::string>().find("busy") != std::string::npos);
  }
  ::close(held);
  ::close(queued);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  {
    httplib::Client c("127.0.0.1", p.port());
    auto ok = c.Get("/api/info");
    REQUIRE(ok);
    CHECK(ok->status == 200);
  }

  // Load from four clients, then SIGTERM: exit status 0, the "stopped" line, no crash.
  std::atomic<bool> go{true};
  std::atomic<int> answered{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t)
    clients.emplace_back([&, t] {
      httplib::Client c("127.0.0.1", p.port());
      c.set_connection_timeout(2, 0);
      for (int i = 0; go; ++i)
        if (auto r = c.Get(fmt::format("/api/neighbours?row={}&k=10", (t * 37 + i) % rows)))
          if (r->status == 200 || r->status == 503) ++answered;
    });
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (answered < 20 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  CHECK(answered >= 20);
  const int st = p.stop(SIGTERM);
  go = false;
  for (auto& c : clients) c.join();
  CHECK(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == 0);
  CHECK(p.output().find("signal 15") != std::string::npos);
  CHECK(p.output().find("stopped") != std::string::npos);
}
