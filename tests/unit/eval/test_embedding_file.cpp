// The embedding file: what is written is read back bit for bit (64-bit ids included), chunks
// land in any order, progress survives a reopen, and a file of another model, an unfinished
// file or a missing field is one clear error.
#include "tests/support/torch_doctest.hpp"

#include <filesystem>
#include <string>

#include "skyssl/core/error.hpp"
#include "skyssl/data/archive.hpp"
#include "skyssl/data/writer.hpp"
#include "skyssl/embed/archive_fields.hpp"
#include "skyssl/embed/embedding_file.hpp"
#include "skyssl/embed/embedding_reader.hpp"
#include "tests/support/test_paths.hpp"

namespace fs = std::filesystem;
using namespace skyssl;
using namespace skyssl::embed;

namespace {

constexpr std::int64_t rows = 10;

std::string make_archive(const fs::path& dir) {
  const auto path = (dir / "tiny.h5").string();
  data::writer_options w;
  w.path = path;
  w.count = rows;
  w.channels = 1;
  w.height = w.width = 4;
  w.bands = {"r"};
  w.pixel_scale = 0.262;
  w.survey = "synthetic";
  w.fields = {{"objid", data::field_type::i64},
              {"ra", data::field_type::f64},
              {"morphology", data::field_type::i32}};
  data::archive_writer out(w);
  std::vector<float> px(rows * 16, 0.5f);
  out.write_images(0, rows, px.data());
  std::vector<std::int64_t> id(rows);
  std::vector<double> ra(rows);
  std::vector<std::int32_t> m(rows);
  for (std::int64_t i = 0; i < rows; ++i) {
    id[i] = 1237645879551066262LL + 3 * i;  // > 2^53: a double would lose the last digits
    ra[i] = 10.0 + 0.123456789012345 * i;
    m[i] = static_cast<std::int32_t>(i % 2);
  }
  out.write_field("objid", 0, rows, id.data());
  out.write_field("ra", 0, rows, ra.data());
  out.write_field("morphology", 0, rows, m.data());
  out.close();
  return path;
}

embedding_header header(const std::string& source) {
  embedding_header h;
  h.arch = "resnet18";
  h.model = "resnet18 width=8 in_channels=1 stem=standard head=4";
  h.source = source;
  h.weights = "w.pt";
  h.weights_digest = "fnv1a64:0000000000000001";
  h.rows = rows;
  h.backbone_dim = 3;
  h.projection_dim = 4;
  h.chunk_rows = 4;  // chunks [0,4) [4,8) [8,10)
  return h;
}

// Row r of the backbone holds r*10 + j, of the projection -(r*10 + j).
void write(embedding_writer& w, const archive_fields& f, std::int64_t chunk) {
  const std::int64_t start = chunk * 4, m = std::min<std::int64_t>(4, rows - start);
  std::vector<float> b, p;
  for (std::int64_t r = start; r < start + m; ++r) {
    for (int j = 0; j < 3; ++j) b.push_back(static_cast<float>(r * 10 + j));
    for (int j = 0; j < 4; ++j) p.push_back(-static_cast<float>(r * 10 + j));
  }
  std::vector<std::vector<char>> cols;
  f.read(start, m, cols);
  std::vector<const void*> ptrs;
  for (const auto& c : cols) ptrs.push_back(c.data());
  w.write_chunk(chunk, b.data(), p.data(), ptrs);
}

}  // namespace

TEST_CASE("embedding file: round trip, any chunk order, resume, clear errors") {
  const auto dir = test::tmp_dir("embedding_file");
  const auto src = make_archive(dir);
  const auto out = (dir / "emb.h5").string();
  fs::remove(out);
  data::archive_options ao;
  ao.paths = {src};
  const data::archive ar(ao);
  const archive_fields fields(ar);
  std::vector<std::string> names;
  for (const auto& c : fields.columns()) names.push_back(c.name);
  CHECK(names == std::vector<std::string>{"morphology", "objid", "ra"});  // images left out

  {
    embedding_writer w(out, header(src), fields.columns(), false);
    CHECK(!w.resumed());
    CHECK(w.done_chunks() == std::vector<bool>{false, false, false});
    write(w, fields, 2);
    write(w, fields, 0);
    w.close();
  }
  // Two of three chunks: readers refuse, saying how far it got.
  try {
    read_embeddings(out, "backbone");
    FAIL("an unfinished file was read");
  } catch (const data_error& e) {
    CHECK(std::string(e.what()).find("2 of 3 chunks") != std::string::npos);
  }
  {
    embedding_writer w(out, header(src), fields.columns(), false);
    CHECK(w.resumed());
    CHECK(w.done_chunks() == std::vector<bool>{true, false, true});
    write(w, fields, 1);
    w.close();
  }
  const auto b = read_embeddings(out, "backbone");
  const auto p = read_embeddings(out, "projection");
  REQUIRE(b.sizes() == torch::IntArrayRef{rows, 3});
  REQUIRE(p.sizes() == torch::IntArrayRef{rows, 4});
  for (std::int64_t r = 0; r < rows; ++r) {
    CHECK(b[r][2].item<float>() == static_cast<float>(r * 10 + 2));
    CHECK(p[r][3].item<float>() == -static_cast<float>(r * 10 + 3));
  }
  const auto id = read_field(out, "objid");
  CHECK((id.scalar_type() == torch::kInt64));
  CHECK(id[7].item<std::int64_t>() == 1237645879551066262LL + 21);
  const auto ra = read_field(out, "ra");
  CHECK((ra.scalar_type() == torch::kFloat64));
  CHECK(ra[9].item<double>() == 10.0 + 0.123456789012345 * 9);
  CHECK(read_field(out, "morphology")[3].item<std::int64_t>() == 1);
  const auto h = read_embedding_header(out);
  CHECK(h.arch == "resnet18");
  CHECK(h.source == src);
  CHECK(h.chunk_rows == 4);
  CHECK(difference(h, header(src)).empty());

  // A field that is not there names the ones that are.
  try {
    read_field(out, "z_spec");
    FAIL("missing field read");
  } catch (const data_error& e) {
    CHECK(std::string(e.what()).find("morphology, objid, ra") != std::string::npos);
  }
  // Another model (or other weights) cannot resume into this file.
  auto other = header(src);
  other.model = "resnet50 width=8 in_channels=1 stem=standard head=4";
  try {
    embedding_writer w(out, other, fields.columns(), false);
    FAIL("another model resumed");
  } catch (const data_error& e) {
    CHECK(std::string(e.what()).find("another model") != std::string::npos);
    CHECK(std::string(e.what()).find("resnet50") != std::string::npos);
  }
  other = header(src);
  other.weights_digest = "fnv1a64:0000000000000002";
  CHECK_THROWS_AS(embedding_writer(out, other, fields.columns(), false), data_error);
  // Not an embedding file at all.
  try {
    read_embeddings(src, "backbone");
    FAIL("an archive was read as an embedding");
  } catch (const data_error& e) {
    CHECK(std::string(e.what()).find("not a skyssl embedding file") != std::string::npos);
  }
  CHECK_THROWS_AS(read_embeddings((dir / "nope.h5").string(), "backbone"), data_error);
}
