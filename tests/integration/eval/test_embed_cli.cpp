// skyssl-embed: the embedding file is the same, value for value, on 1 rank, on 2 ranks, and
// after a run that died part-way (on 1 or 2 ranks) was finished by a rerun; the archive's
// fields are copied with their types; bad inputs are one clear error.
#include "tests/support/torch_doctest.hpp"

#include <fmt/format.h>
#include <hdf5.h>
#include <sys/wait.h>

#include <fstream>
#include <iterator>
#include <vector>

#include "skyssl/core/error.hpp"
#include "skyssl/embed/embedding_reader.hpp"
#include "tests/integration/eval/cli.hpp"

namespace fs = std::filesystem;
using namespace skyssl;
using skyssl::test::run;

namespace {

const fs::path& dir() {
  static const fs::path d = skyssl::test::tmp_dir("embed_cli");
  return d;
}

std::string embed_cmd(const fs::path& run_dir, const fs::path& out, const std::string& extra = "",
                      int ranks = 1) {
  const std::string exe = skyssl::test::program("skyssl-embed") + " --run-dir " + run_dir.string() +
                          " --out " + out.string() + " --chunk 50 " + extra;
  return ranks == 1 ? exe : skyssl::test::mpiexec() + " -n " + std::to_string(ranks) + " " + exe;
}

void check_same(const fs::path& a, const fs::path& b) {
  CAPTURE(b.string());
  for (const char* w : {"backbone", "projection"})
    CHECK(
        torch::equal(embed::read_embeddings(a.string(), w), embed::read_embeddings(b.string(), w)));
  for (const auto& f : embed::field_names(a.string()))
    CHECK(torch::equal(embed::read_field(a.string(), f), embed::read_field(b.string(), f)));
}

}  // namespace

TEST_CASE("skyssl-embed: 1 rank = 2 ranks = crashed and resumed; fields copied") {
  const auto r = skyssl::test::tiny_run(dir(), "run", 8);
  const auto one = dir() / "one.h5", two = dir() / "two.h5", crash1 = dir() / "crash1.h5",
             crash2 = dir() / "crash2.h5";
  for (const auto& f : {one, two, crash1, crash2}) fs::remove(f);

  auto a = run(embed_cmd(r, one));
  REQUIRE_MESSAGE(a.status == 0, a.output);
  CHECK(a.output.find("images/s") != std::string::npos);
  const auto h = embed::read_embedding_header(one.string());
  CHECK(h.rows == 384);
  CHECK(h.arch == "resnet18");
  CHECK(h.backbone_dim == 64);  // width 8 -> 8 * 8 features
  CHECK(h.projection_dim == 128);
  CHECK(h.source == (dir() / "survey.h5").string());
  // Fields: same values and integer-ness as the archive (objid 0..383, morphology 0/1).
  const auto objid = embed::read_field(one.string(), "objid");
  CHECK(torch::equal(objid, torch::arange(384, torch::kInt64)));
  const auto morph = embed::read_field(one.string(), "morphology");
  CHECK(morph.min().item<std::int64_t>() == 0);
  CHECK(morph.max().item<std::int64_t>() == 1);
  // Raw outputs, not normalised.
  const auto b = embed::read_embeddings(one.string(), "backbone");
  CHECK(b.norm(2, 1).sub(1).abs().max().item<float>() > 1e-2);

  auto t = run(embed_cmd(r, two, "", 2));
  REQUIRE_MESSAGE(t.status == 0, t.output);
  check_same(one, two);

  // Killed after 2 chunks on 1 rank (exit 86, as --stop-after simulates), then finished.
  auto c = run(embed_cmd(r, crash1, "--stop-after 2"));
  CHECK(WEXITSTATUS(c.status) == 86);
  CHECK_THROWS_AS(embed::read_embeddings(crash1.string(), "backbone"), data_error);
  c = run(embed_cmd(r, crash1));
  REQUIRE_MESSAGE(c.status == 0, c.output);
  CHECK(c.output.find("2 of 8 chunks already written") != std::string::npos);
  check_same(one, crash1);
  // Killed after one chunk per rank on 2 ranks, finished on 1.
  c = run(embed_cmd(r, crash2, "--stop-after 1", 2));
  CHECK(c.status != 0);
  c = run(embed_cmd(r, crash2));
  REQUIRE_MESSAGE(c.status == 0, c.output);
  CHECK(c.output.find("2 of 8 chunks already written") != std::string::npos);
  check_same(one, crash2);
  // A finished file: a rerun has nothing left to do and changes nothing.
  c = run(embed_cmd(r, one));
  REQUIRE_MESSAGE(c.status == 0, c.output);
  CHECK(c.output.find("8 of 8 chunks already written") != std::string::npos);
  check_same(two, one);
}

TEST_CASE("skyssl-embed: another model's file, a file that is not an embedding, bad flags") {
  const auto r = skyssl::test::tiny_run(dir(), "run", 8);
  const auto other = skyssl::test::tiny_run(dir(), "run_w4", 4);
  const auto out = dir() / "other.h5";
  fs::remove(out);
  auto a = run(embed_cmd(other, out));
  REQUIRE_MESSAGE(a.status == 0, a.output);
  auto b = run(embed_cmd(r, out));
  CHECK(b.status != 0);
  CHECK(b.output.find("holds the embedding of another model") != std::string::npos);
  CHECK(b.output.find("width=4") != std::string::npos);
  CHECK(b.output.find("--out") != std::string::npos);
  // Same failure on 2 ranks: every rank exits, none hangs.
  b = run(embed_cmd(r, out, "", 2));
  CHECK(b.status != 0);
  CHECK(b.output.find("another model") != std::string::npos);
  // The archive itself given as --out, and another HDF5 file that is no embedding.
  auto c = run(embed_cmd(r, dir() / "survey.h5"));
  CHECK(c.status != 0);
  CHECK(c.output.find("is a file of the archive being embedded") != std::string::npos);
  fs::copy_file(dir() / "survey.h5", dir() / "not_embedding.h5",
                fs::copy_options::overwrite_existing);
  c = run(embed_cmd(r, dir() / "not_embedding.h5"));
  CHECK(c.status != 0);
  CHECK(c.output.find("is not a skyssl embedding file") != std::string::npos);
  auto d = run(embed_cmd(r, dir() / "x.h5", "--what pixels"));
  CHECK(d.status != 0);
  CHECK(d.output.find("--what") != std::string::npos);
}

namespace {

std::string bytes_of(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

// Replaces /progress/done with a dataset of `entries` flags (all set).
void replace_done(const fs::path& file, hsize_t entries) {
  const hid_t f = H5Fopen(file.string().c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  REQUIRE(f >= 0);
  REQUIRE(H5Ldelete(f, "progress/done", H5P_DEFAULT) >= 0);
  const hid_t sp = H5Screate_simple(1, &entries, nullptr);
  const hid_t d =
      H5Dcreate2(f, "progress/done", H5T_STD_U8LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  std::vector<std::uint8_t> ones(entries, 1);
  REQUIRE(H5Dwrite(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, ones.data()) >= 0);
  H5Dclose(d);
  H5Sclose(sp);
  H5Fclose(f);
}

}  // namespace

TEST_CASE("skyssl-embed: a file to resume whose /progress/done has another extent is refused") {
  const auto r = skyssl::test::tiny_run(dir(), "run", 8);
  const auto out = dir() / "bad_done.h5";
  fs::remove(out);
  auto c = run(embed_cmd(r, out, "--stop-after 2"));
  REQUIRE(WEXITSTATUS(c.status) == 86);
  // 100,000 flags where the file has 8 chunks: read with H5S_ALL into 8 bytes, this overflowed
  // the heap; a shorter one left chunks unread.
  for (const hsize_t entries : {hsize_t{100000}, hsize_t{3}}) {
    CAPTURE(entries);
    replace_done(out, entries);
    const auto before = bytes_of(out);
    for (const int ranks : {1, 2}) {
      CAPTURE(ranks);
      auto b = run(embed_cmd(r, out, "", ranks));
      INFO(b.output);
      REQUIRE(WIFEXITED(b.status));
      CHECK(WEXITSTATUS(b.status) == 1);
      CHECK(b.output.find(fmt::format("'{}': /progress/done has {} entries, expected 8",
                                      out.string(), entries)) != std::string::npos);
      CHECK(bytes_of(out) == before);
    }
  }
}
