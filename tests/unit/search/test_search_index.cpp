// The similarity indexes against brute force in double, the embedding-file reader against
// files written here with the plain HDF5 API, and the index's save/reload and its checks.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "skyssl/core/error.hpp"
#include "skyssl/embed/embedding_reader.hpp"
#include "skyssl/search/search_index.hpp"
#include "skyssl/search/similarity_index.hpp"
#include "tests/support/clustered_vectors.hpp"
#include "tests/support/embedding_files.hpp"
#include "tests/support/test_paths.hpp"

using namespace skyssl;
using namespace skyssl::search;
using namespace skyssl::embed;
namespace fs = std::filesystem;

namespace {

// Builds an index of `o` over base (training on all of it when needed).
similarity_index build(const std::vector<float>& base, int dim, const index_options& o) {
  const std::int64_t n = static_cast<std::int64_t>(base.size()) / dim;
  similarity_index idx(dim, o, n);
  if (idx.needs_training()) idx.train(base.data(), n);
  idx.add(base.data(), n);
  return idx;
}

double recall_of(const similarity_index& idx, const std::vector<float>& queries, int k,
                 const std::vector<std::int64_t>& truth) {
  const auto nn =
      idx.search(queries.data(), static_cast<std::int64_t>(queries.size()) / idx.dim(), k);
  return test::recall_at_k(nn.ids, truth, k);
}

}  // namespace

TEST_CASE("the exact index returns brute force's neighbours and cosines") {
  const int dim = 24, k = 10;
  // Uniform-ish random rows of random scale: normalisation must make the scale irrelevant.
  const test::clustered_vectors gen(dim, 1, 3.0f, 11);
  auto base = gen.rows(0, 600);
  for (std::size_t i = 0; i < base.size(); ++i) base[i] *= 1.0f + static_cast<float>(i / dim % 7);
  const auto queries = gen.rows(10000, 25);
  std::vector<std::int64_t> ids;
  std::vector<double> scores;
  test::brute_force_topk(base, queries, dim, k, ids, scores);
  const auto idx = build(base, dim, {});
  CHECK(idx.description() == "Flat");
  const auto nn = idx.search(queries.data(), 25, k, /*chunk_rows=*/7);
  REQUIRE(nn.ids.size() == ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    INFO("query ", i / k, " rank ", i % k);
    CHECK(nn.ids[i] == ids[i]);
    CHECK(nn.scores[i] == doctest::Approx(scores[i]).epsilon(1e-5));
  }
}

TEST_CASE("approximate indexes reach recall@10 >= 0.9 on clustered vectors") {
  const int dim = 32, k = 10;
  const test::clustered_vectors gen(dim, 64, 1.0f, 7);
  const auto base = gen.rows(0, 10000);
  const auto queries = gen.rows(1000000, 100);  // rows never indexed
  std::vector<std::int64_t> truth;
  std::vector<double> scores;
  test::brute_force_topk(base, queries, dim, k, truth, scores);

  index_options ivf;
  ivf.kind = index_kind::ivf_flat;
  ivf.nlist = 64;
  auto a = build(base, dim, ivf);
  CHECK(a.description() == "IVF64,Flat");
  a.set_search_options({/*nprobe=*/1});
  const double r1 = recall_of(a, queries, k, truth);
  a.set_search_options({/*nprobe=*/16});
  const double r16 = recall_of(a, queries, k, truth);
  MESSAGE("ivf-flat recall@10: nprobe 1 ", r1, ", nprobe 16 ", r16);
  CHECK(r16 >= 0.9);
  CHECK(r1 < r16);  // the search knob reaches the index

  index_options sq = ivf;
  sq.kind = index_kind::ivf_sq8;
  auto b = build(base, dim, sq);
  b.set_search_options({16});
  const double rsq = recall_of(b, queries, k, truth);
  MESSAGE("ivf-sq8 recall@10 ", rsq);
  CHECK(rsq >= 0.9);

  index_options pq = ivf;
  pq.kind = index_kind::ivf_pq;
  pq.pq_m = 8;
  pq.refine = "sq8";
  auto d = build(base, dim, pq);
  CHECK(d.description() == "IVF64,PQ8np,Refine(SQ8)");
  // k_factor 1: the PQ shortlist is exactly k long, so re-ranking only reorders it and the
  // recall is the 8-byte codes' own; a longer shortlist is where the re-ranking pays.
  d.set_search_options({16, 128, 1});
  const double rpq = recall_of(d, queries, k, truth);
  d.set_search_options({16, 128, 8});
  const double rref = recall_of(d, queries, k, truth);
  MESSAGE("ivf-pq recall@10 ", rpq, ", re-ranked ", rref);
  CHECK(rref >= 0.9);
  CHECK(rpq < 0.8);  // 8 bytes a row lose neighbours that the re-ranking wins back

  index_options h;
  h.kind = index_kind::hnsw;
  h.hnsw_m = 16;
  auto e = build(base, dim, h);
  e.set_search_options({1, 64});
  const double rh = recall_of(e, queries, k, truth);
  MESSAGE("hnsw recall@10 ", rh);
  CHECK(rh >= 0.9);
}

TEST_CASE("a saved and reloaded index gives identical results") {
  const int dim = 16, k = 5;
  const test::clustered_vectors gen(dim, 16, 1.0f, 3);
  const auto base = gen.rows(0, 4000);
  const auto queries = gen.rows(50000, 20);
  const auto file = test::tmp_dir("search_index") / "a.faiss";
  for (const char* kind : {"flat", "ivf-flat", "ivf-sq8", "ivf-pq", "hnsw"}) {
    INFO(kind);
    index_options o;
    o.kind = parse_index_kind(kind, "--kind");
    o.nlist = 32;
    auto idx = build(base, dim, o);
    idx.set_search_options({8});
    const auto before = idx.search(queries.data(), 20, k);
    idx.save(file);
    auto again = similarity_index::load(file);
    CHECK(again.description() == idx.description());
    CHECK(again.size() == 4000);
    again.set_search_options({8});
    const auto after = again.search(queries.data(), 20, k);
    CHECK(after.ids == before.ids);
    CHECK(after.scores == before.scores);
  }
  CHECK_THROWS_WITH_AS(similarity_index::load(test::tmp_dir("search_index") / "none.faiss"),
                       doctest::Contains("none.faiss' not found"), error);
}

TEST_CASE("index options are checked with messages naming the value") {
  CHECK_THROWS_WITH_AS(parse_index_kind("ivf", "--kind"),
                       doctest::Contains("--kind must be 'flat', 'ivf-flat'"), config_error);
  index_options o;
  o.kind = index_kind::ivf_pq;
  o.pq_m = 7;
  CHECK_THROWS_WITH_AS(similarity_index(32, o, 1000), doctest::Contains("7 sub-quantisers"),
                       config_error);
  o.pq_m = 8;
  o.refine = "best";
  CHECK_THROWS_WITH_AS(similarity_index(32, o, 1000), doctest::Contains("got 'best'"),
                       config_error);
  CHECK(auto_nlist(10'000'000) == 4096);
  CHECK(auto_nlist(2000) == 51);  // 64 would leave fewer than 39 rows a list
  CHECK(auto_nlist(10) == 1);
  // Training on fewer rows than lists is refused, not left to FAISS's warning.
  o.refine = "none";
  o.nlist = 64;
  similarity_index small(32, o, 100);
  const std::vector<float> rows(32 * 40, 1.0f);
  CHECK_THROWS_WITH_AS(small.train(rows.data(), 40), doctest::Contains("40 training rows"),
                       data_error);
}

namespace {

// An embedding file of `n` clustered rows: 16-d backbone, 8-d projection, objid = 1000 + 3 i,
// ra = i / 4.
fs::path small_embedding_file(const std::string& name, std::int64_t n) {
  const auto path = test::tmp_dir("search_index") / name;
  test::embedding_file_spec s;
  s.source = "survey.h5";
  s.spaces["backbone"] = {16, test::clustered_vectors(16, 8, 1.0f, 1).rows(0, n)};
  s.spaces["projection"] = {8, test::clustered_vectors(8, 8, 1.0f, 2).rows(0, n)};
  std::vector<std::int64_t> objid(n);
  std::vector<double> ra(n);
  for (std::int64_t i = 0; i < n; ++i) {
    objid[i] = 1000 + 3 * i;
    ra[i] = static_cast<double>(i) / 4;
  }
  s.int_fields["objid"] = objid;
  s.float_fields["ra"] = ra;
  test::write_embedding_file(path, s);
  return path;
}

}  // namespace

TEST_CASE("the embedding reader reads rows, samples and ids as written") {
  const auto path = small_embedding_file("emb.h5", 300);
  const embedding_reader e(path);
  CHECK(e.rows() == 300);
  CHECK(e.arch() == "resnet18");
  CHECK(e.source() == "survey.h5");
  CHECK(e.dim("backbone") == 16);
  CHECK(e.dim("projection") == 8);
  CHECK(choose_space(e, "") == "backbone");
  const auto all = test::clustered_vectors(16, 8, 1.0f, 1).rows(0, 300);
  std::vector<float> got(16 * 5);
  e.read("backbone", 17, 5, got.data());
  CHECK(std::vector<float>(all.begin() + 17 * 16, all.begin() + 22 * 16) == got);
  e.read_strided("backbone", 60, 5, got.data());  // rows 0, 60, ..., 240
  for (int i = 0; i < 5; ++i) CHECK(got[i * 16 + 3] == all[i * 60 * 16 + 3]);
  CHECK(e.find("objid", "1030") == std::vector<std::int64_t>{10});
  CHECK(e.find("objid", "1031").empty());
  CHECK(e.find("ra", "2.5") == std::vector<std::int64_t>{10});
  CHECK(e.field_text("objid", 10) == "1030");
  CHECK_THROWS_WITH_AS(e.find("objID", "1"),
                       doctest::Contains("no id field 'objID' (fields: objid, ra)"), data_error);
  CHECK_THROWS_WITH_AS(e.find("objid", "12x"),
                       doctest::Contains("'12x' is not an integer value for field 'objid'"),
                       data_error);
  CHECK_THROWS_WITH_AS(e.read("backbone", 299, 2, got.data()), doctest::Contains("[299, 301)"),
                       data_error);

  test::embedding_file_spec bad;
  bad.marker = false;
  bad.spaces["backbone"] = {4, std::vector<float>(8, 1.0f)};
  const auto unmarked = test::tmp_dir("search_index") / "unmarked.h5";
  test::write_embedding_file(unmarked, bad);
  CHECK_THROWS_WITH_AS(embedding_reader{unmarked},
                       doctest::Contains("is not a skyssl embedding file"), data_error);
  bad.marker = true;
  bad.spaces.clear();
  bad.spaces["projection"] = {4, std::vector<float>(8, 1.0f)};
  bad.int_fields["objid"] = {1, 2, 3};  // 3 ids for 2 rows
  const auto uneven = test::tmp_dir("search_index") / "uneven.h5";
  test::write_embedding_file(uneven, bad);
  CHECK_THROWS_WITH_AS(embedding_reader{uneven}, doctest::Contains("/fields/objid has 3 rows"),
                       data_error);
  bad.int_fields.clear();
  test::write_embedding_file(uneven, bad);
  const embedding_reader p(uneven);
  CHECK(choose_space(p, "") == "projection");
  CHECK_THROWS_WITH_AS(choose_space(p, "backbone"),
                       doctest::Contains("has no /backbone embeddings (it has: projection)"),
                       data_error);
}

TEST_CASE("a saved search index reloads only against the embeddings it was built from") {
  const auto path = small_embedding_file("emb2.h5", 400);
  const embedding_reader e(path);
  index_build_options o;
  o.index.kind = index_kind::ivf_flat;
  o.index.nlist = 8;
  o.slab_rows = 64;    // several slabs
  o.train_rows = 400;  // all rows, as `whole` below trains on
  const auto idx = search_index::build(e, "backbone", o);
  CHECK(idx.rows() == 400);
  const auto file = test::tmp_dir("search_index") / "emb2.ivf";
  idx.save(file);
  CHECK(fs::exists(file.string() + ".json"));
  // The slab-built index answers as one built from all rows at once.
  const auto all = test::clustered_vectors(16, 8, 1.0f, 1).rows(0, 400);
  auto whole = build(all, 16, o.index);
  auto again = search_index::load(file, e, "backbone");
  whole.set_search_options({4});
  again.index().set_search_options({4});
  const auto q = test::clustered_vectors(16, 8, 1.0f, 1).rows(5000, 10);
  CHECK(again.index().search(q.data(), 10, 5).ids == whole.search(q.data(), 10, 5).ids);
  // Another space of the same file has another dimension.
  CHECK_THROWS_WITH_AS(search_index::load(file, e, "projection"),
                       doctest::Contains("holds 16-d vectors but /projection"), data_error);
  // Another file with as many columns but other rows.
  const embedding_reader other(small_embedding_file("emb3.h5", 200));
  CHECK_THROWS_WITH_AS(search_index::load(file, other, "backbone"),
                       doctest::Contains("holds 400 rows but"), data_error);
}
