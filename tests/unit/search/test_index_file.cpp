// Index files from someone else (issue 19): crafted FAISS files that would exhaust memory, map
// another file, or send search outside its arrays are refused on load with one message naming
// the file; the kinds skyssl builds still load.
#include <doctest/doctest.h>
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIDMap.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/index_io.h>
#include <faiss/invlists/OnDiskInvertedLists.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
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

constexpr int dim = 8;

fs::path file(const std::string& name) { return test::tmp_dir("index_file") / name; }

std::vector<float> rows(std::int64_t n) {
  auto v = test::clustered_vectors(dim, 4, 1.0f, 3).rows(0, n);
  l2_normalise_rows(v, dim);
  return v;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void spit(const fs::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary | std::ios::trunc).write(bytes.data(), bytes.size());
}

// An IVF-Flat index of 200 rows in 4 lists, as skyssl builds it.
std::unique_ptr<faiss::IndexIVFFlat> ivf_flat(faiss::IndexFlatIP& quantiser) {
  auto ivf = std::make_unique<faiss::IndexIVFFlat>(&quantiser, dim, 4, faiss::METRIC_INNER_PRODUCT);
  const auto v = rows(200);
  ivf->train(200, v.data());
  ivf->add(200, v.data());
  return ivf;
}

// Loading `path` throws data_error naming the file and saying `text` (empty: anything).
void check_refused(const fs::path& path, const std::string& text) {
  try {
    similarity_index::load(path);
    FAIL("'", path.string(), "' was accepted");
  } catch (const data_error& e) {
    const std::string what = e.what();
    INFO(what);
    CHECK(what.find("'" + path.string() + "'") != std::string::npos);
    CHECK(what.find(text) != std::string::npos);
  }
}

}  // namespace

TEST_CASE("a 100-byte index declaring 2^39 rows is refused before anything is allocated") {
  faiss::IndexFlatIP flat(dim);
  const auto v = rows(4);
  flat.add(4, v.data());
  const auto good = file("flat.index");
  faiss::write_index(&flat, good.string().c_str());
  CHECK(similarity_index::load(good).size() == 4);
  // Header: fourcc 4, d 4, ntotal 8, two placeholders 16, is_trained 1, metric 4; then the
  // row vector's length (8 bytes, in floats).
  auto bytes = slurp(good);
  const std::uint64_t huge = std::uint64_t{1} << 39;
  std::memcpy(&bytes[8], &huge, 8);
  std::memcpy(&bytes[37], &huge, 8);
  bytes.resize(100);
  const auto bad = file("huge.index");
  spit(bad, bytes);
  check_refused(bad, "declares a count of 549755813888");
  // Only the row count: the rows no longer match it.
  bytes = slurp(good);
  const std::uint64_t five = 5;
  std::memcpy(&bytes[8], &five, 8);
  spit(bad, bytes);
  check_refused(bad, "");  // FAISS's own check or ours ("... for 5 rows")
}

TEST_CASE("on-disk inverted lists naming another file are refused and that file is not touched") {
  faiss::IndexFlatIP q(dim);
  auto ivf = ivf_flat(q);
  const auto victim = file("victim.bin");
  {
    // FAISS's own way to point an index's lists at a file (mapped read-write on load).
    faiss::OnDiskInvertedLists od(ivf->nlist, ivf->code_size, victim.string().c_str());
    od.totsize = 4096;
    ivf->replace_invlists(&od, false);
    ivf->ntotal = 0;
    faiss::write_index(ivf.get(), file("ondisk.index").string().c_str());
    ivf->replace_invlists(new faiss::ArrayInvertedLists(ivf->nlist, ivf->code_size), true);
  }
  spit(victim, std::string(4096, 'v'));
  const auto before = slurp(victim);
  check_refused(file("ondisk.index"), "not held in the file");
  CHECK(slurp(victim) == before);
}

TEST_CASE("inverted lists with ids outside the index, or a list count that disagrees") {
  faiss::IndexFlatIP q(dim);
  auto ivf = ivf_flat(q);
  auto* lists = dynamic_cast<faiss::ArrayInvertedLists*>(ivf->invlists);
  REQUIRE(lists);
  std::size_t l = 0;
  while (lists->ids[l].empty()) ++l;
  const auto kept = lists->ids[l][0];
  lists->ids[l][0] = 1'000'000;
  faiss::write_index(ivf.get(), file("bad_id.index").string().c_str());
  check_refused(file("bad_id.index"), "holds row id 1000000, outside 0 to 199");
  lists->ids[l][0] = kept;
  faiss::write_index(ivf.get(), file("good_ivf.index").string().c_str());
  CHECK(similarity_index::load(file("good_ivf.index")).size() == 200);
  // Lists that claim more rows than the file holds.
  auto bytes = slurp(file("good_ivf.index"));
  const auto at = bytes.find("full");
  REQUIRE(at != std::string::npos);
  const std::uint64_t huge = std::uint64_t{1} << 33;
  std::memcpy(&bytes[at + 4 + 8], &huge, 8);  // the first list's size, after the count
  spit(file("long_list.index"), bytes);
  check_refused(file("long_list.index"), "inverted lists declare more rows");
  // The coarse quantiser's centroid count against nlist.
  ivf->nlist = 5;
  lists->nlist = 5;
  lists->ids.resize(5);
  lists->codes.resize(5);
  faiss::write_index(ivf.get(), file("nlist.index").string().c_str());
  check_refused(file("nlist.index"), "");  // FAISS's own check or ours
}

TEST_CASE("HNSW links outside the graph or the level, and index types skyssl never builds") {
  faiss::IndexHNSWFlat h(dim, 4, faiss::METRIC_INNER_PRODUCT);
  const auto v = rows(100);
  h.add(100, v.data());
  faiss::write_index(&h, file("hnsw.index").string().c_str());
  CHECK(similarity_index::load(file("hnsw.index")).size() == 100);
  const auto kept = h.hnsw.neighbors[0];
  h.hnsw.neighbors[0] = 100;
  faiss::write_index(&h, file("hnsw_bad.index").string().c_str());
  check_refused(file("hnsw_bad.index"), "row 0 links to row 100 on level 0");
  h.hnsw.neighbors[0] = kept;
  h.hnsw.entry_point = 100;
  faiss::write_index(&h, file("hnsw_entry.index").string().c_str());
  check_refused(file("hnsw_entry.index"), "entry point 100");

  faiss::IndexFlatIP inner(dim);
  faiss::IndexIDMap map(&inner);
  std::vector<decltype(faiss::Index::ntotal)> ids = {7, 9};
  map.add_with_ids(2, rows(2).data(), ids.data());
  faiss::write_index(&map, file("idmap.index").string().c_str());
  check_refused(file("idmap.index"), "an index type skyssl does not build");
  faiss::IndexFlatL2 l2(dim);
  faiss::write_index(&l2, file("l2.index").string().c_str());
  check_refused(file("l2.index"), "another metric than inner product");
  spit(file("text.index"), "not an index at all\n");
  CHECK_THROWS_WITH_AS(similarity_index::load(file("text.index")), doctest::Contains("text.index"),
                       data_error);
}

TEST_CASE("an index whose sidecar disagrees with it, or has none, is refused") {
  test::embedding_file_spec spec;
  spec.source = "survey.h5";
  const auto v = rows(200);
  spec.spaces["backbone"] = {dim, v};
  const auto emb = file("emb.h5");
  test::write_embedding_file(emb, spec);
  const embedding_reader e(emb);
  const auto idx = search_index::build(e, "backbone", {});
  const auto path = file("side.index");
  idx.save(path);
  CHECK(search_index::load(path, e, "backbone").rows() == 200);
  const auto side = path.string() + ".json";
  auto text = slurp(side);
  const auto at = text.find("\"rows\": 200");
  REQUIRE(at != std::string::npos);
  text.replace(at, 11, "\"rows\": 201");
  spit(side, text);
  CHECK_THROWS_WITH_AS(search_index::load(path, e, "backbone"),
                       doctest::Contains("holds 200 rows of 8 dimensions but its sidecar"),
                       data_error);
  text.replace(at, 11, "\"rows\": \"x\"");
  spit(side, text);
  CHECK_THROWS_WITH_AS(search_index::load(path, e, "backbone"),
                       doctest::Contains("is not the JSON sidecar of an index"), data_error);
  fs::remove(side);
  CHECK_THROWS_WITH_AS(search_index::load(path, e, "backbone"), doctest::Contains("has no sidecar"),
                       data_error);
}
