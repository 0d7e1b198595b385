// skyssl-search end to end on embedding files written here with the plain HDF5 API: an index
// built, saved and reloaded answers as brute force does; queries by row and by id; the JSON
// and the PNG gallery; bad inputs end with one clear message and a non-zero exit.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/support/clustered_vectors.hpp"
#include "tests/support/embedding_files.hpp"
#include "tests/support/run_command.hpp"
#include "tests/support/test_paths.hpp"

namespace fs = std::filesystem;
using namespace skyssl;

namespace {

using result = test::command_result;
result run(const std::string& cmd) { return test::run_command(cmd); }

constexpr int rows = 200, dim = 32;

const fs::path& dir() {
  static const fs::path d = test::tmp_dir("search_cli");
  return d;
}

std::vector<float> backbone() { return test::clustered_vectors(dim, 10, 0.8f, 21).rows(0, rows); }

// survey.h5 (skyssl-prep synth, 16x16, for the gallery) and emb.h5 of the same row count.
const fs::path& files() {
  static const fs::path emb = [] {
    const auto survey = dir() / "survey.h5";
    auto s = run(fmt::format("{} synth --out {} --count {} --size 16 --seed 2",
                             skyssl::test::program("skyssl-prep"), survey.string(), rows));
    REQUIRE_MESSAGE(s.status == 0, s.output);
    test::embedding_file_spec spec;
    spec.source = survey.string();
    spec.spaces["backbone"] = {dim, backbone()};
    spec.spaces["projection"] = {8, test::clustered_vectors(8, 10, 0.8f, 22).rows(0, rows)};
    std::vector<std::int64_t> objid(rows);
    for (int i = 0; i < rows; ++i) objid[i] = 1000 + 2 * i;
    spec.int_fields["objid"] = objid;
    const auto path = dir() / "emb.h5";
    test::write_embedding_file(path, spec);
    return path;
  }();
  return emb;
}

std::string search(const std::string& args) {
  return fmt::format("{} --embeddings {} {}", skyssl::test::program("skyssl-search"),
                     files().string(), args);
}

nlohmann::json read_json(const fs::path& p) {
  std::ifstream f(p);
  return nlohmann::json::parse(f);
}

// Width and height from a PNG's IHDR chunk (big-endian, bytes 16-23).
std::pair<int, int> png_size(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  unsigned char b[24] = {};
  f.read(reinterpret_cast<char*>(b), 24);
  REQUIRE(f.good());
  REQUIRE(b[1] == 'P');
  REQUIRE(b[2] == 'N');
  auto be = [&](int at) {
    return (b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3];
  };
  return {be(16), be(20)};
}

}  // namespace

TEST_CASE("skyssl-search: a saved index reloads and answers as brute force") {
  const auto index = dir() / "emb.ivf";
  fs::remove(index);
  auto b = run(search(fmt::format("--index {} --kind ivf-flat --nlist 4", index.string())));
  REQUIRE_MESSAGE(b.status == 0, b.output);
  REQUIRE(fs::exists(index));
  const auto meta = read_json(index.string() + ".json");
  CHECK(meta["factory"] == "IVF4,Flat");
  CHECK(meta["rows"] == rows);
  CHECK(meta["space"] == "backbone");

  // nprobe = every list: the IVF index is exact, so brute force is the reference.
  const int k = 6;
  const auto j1 = dir() / "q1.json";
  auto q = run(search(fmt::format("--index {} --nprobe 4 --row 5,77 --k {} --json {}",
                                  index.string(), k, j1.string())));
  REQUIRE_MESSAGE(q.status == 0, q.output);
  CHECK(q.output.find("loaded") != std::string::npos);  // not rebuilt
  const auto all = backbone();
  std::vector<float> queries(all.begin() + 5 * dim, all.begin() + 6 * dim);
  queries.insert(queries.end(), all.begin() + 77 * dim, all.begin() + 78 * dim);
  std::vector<std::int64_t> ids;
  std::vector<double> scores;
  test::brute_force_topk(all, queries, dim, k, ids, scores);
  const auto j = read_json(j1);
  REQUIRE(j["queries"].size() == 2);
  for (int qi = 0; qi < 2; ++qi)
    for (int r = 0; r < k; ++r) {
      const auto& n = j["queries"][qi]["neighbours"][r];
      CHECK(n["row"] == ids[qi * k + r]);
      CHECK(n["score"].get<double>() == doctest::Approx(scores[qi * k + r]).epsilon(1e-5));
      CHECK(n["objid"] == 1000 + 2 * ids[qi * k + r]);
    }
  CHECK(j["queries"][0]["neighbours"][0]["row"] == 5);  // a galaxy is its own nearest

  // By id: the same query, the same answer; and from the reloaded index again, identical.
  const auto j2 = dir() / "q2.json";
  auto byid = run(search(fmt::format("--index {} --nprobe 4 --id objid=1010 --k {} --json {}",
                                     index.string(), k, j2.string())));
  REQUIRE_MESSAGE(byid.status == 0, byid.output);
  CHECK(read_json(j2)["queries"][0]["neighbours"] == j["queries"][0]["neighbours"]);
  CHECK(read_json(j2)["queries"][0]["query"] == "objid=1010 (row 5)");
}

TEST_CASE("skyssl-search: the gallery has a tile for the query and each neighbour") {
  const auto png = dir() / "nn.png";
  fs::remove(png);
  auto g = run(search(fmt::format("--row 3 --k 4 --gallery {}", png.string())));
  REQUIRE_MESSAGE(g.status == 0, g.output);
  // 16x16 crops zoomed 6x (tiles of at least 96 px), 5 tiles and 6 px gaps, one row.
  const auto [w, h] = png_size(png);
  CHECK(w == 5 * 96 + 6 * 6);
  CHECK(h == 96 + 2 * 6);
}

TEST_CASE("skyssl-search: bad inputs get one clear error") {
  const auto index = dir() / "emb_bad.ivf";
  REQUIRE(run(search(fmt::format("--index {} --kind ivf-flat --nlist 4 --rebuild", index.string())))
              .status == 0);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--id objid=999", "no row of"},
      {"--id objid=999", "has objid = 999"},
      {"--id objID=1000", "no id field 'objID' (fields: objid)"},
      {"--id 1000", "--id '1000' must be FIELD=VALUE"},
      {"--row 500", "--row 500: "},
      {"--row 500", "has rows 0 to 199"},
      {"--index " + index.string() + " --space projection --row 1",
       "holds 32-d vectors but /projection"},
      {"--space pixels --row 1", "has no /pixels embeddings (it has: backbone, projection)"},
      {"--kind ivf --row 1", "--kind must be 'flat', 'ivf-flat'"},
      {"", "nothing to do"},
      {"--cutout " + (dir() / "none.fits").string() + " --run-dir " + dir().string(),
       "config.toml' not found"},
      {"--row 1 --gallery " + (dir() / "g.png").string() + " --archive " +
           (dir() / "emb.h5").string(),
       "emb.h5"},
  };
  for (const auto& [args, expect] : cases) {
    INFO(args);
    const auto r = run(search(args));
    INFO(r.output);
    CHECK(r.status != 0);
    CHECK(r.output.find(expect) != std::string::npos);
    // One line says what is wrong.
    CHECK(r.output.find("skyssl-search: ") != std::string::npos);
  }
  auto not_emb =
      run(fmt::format("{} --embeddings {} --row 1", skyssl::test::program("skyssl-search"),
                      (dir() / "survey.h5").string()));
  CHECK(not_emb.status != 0);
  CHECK(not_emb.output.find("is not a skyssl embedding file") != std::string::npos);
}
