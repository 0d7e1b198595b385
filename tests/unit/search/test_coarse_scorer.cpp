// The vectorised IVF coarse step (search/detail/coarse_scorer.hpp) against FAISS's own: the
// same list scores bit for bit and the same lists, and a similarity_index searched through it
// (a few queries) finding exactly what FAISS's IndexIVF::search finds on the same index.
#include <doctest/doctest.h>
#include <faiss/IndexFlat.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/index_io.h>

#include <memory>
#include <string>
#include <vector>

#include "skyssl/search/detail/coarse_scorer.hpp"
#include "skyssl/search/similarity_index.hpp"
#include "tests/support/clustered_vectors.hpp"
#include "tests/support/test_paths.hpp"

using namespace skyssl;
using namespace skyssl::search;

namespace {

std::vector<float> normalised(const test::clustered_vectors& gen, std::int64_t first,
                              std::int64_t n, int dim) {
  auto v = gen.rows(first, n);
  l2_normalise_rows(v, dim);
  return v;
}

}  // namespace

TEST_CASE("the coarse scorer gives FAISS's list scores bit for bit and its lists") {
  // Dimensions and list counts that are not multiples of the vector width: the loop's
  // remainders are exercised too.
  for (const auto& shape : {std::pair{128, 1000}, std::pair{24, 77}, std::pair{13, 5}}) {
    const int dim = shape.first, nlist = shape.second;
    INFO("dim ", dim, " nlist ", nlist);
    const test::clustered_vectors gen(dim, nlist, 1.0f, 7);
    const auto centroids = normalised(gen, 0, nlist, dim);
    faiss::IndexFlatIP quantizer(dim);
    quantizer.add(nlist, centroids.data());
    faiss::IndexIVFFlat ivf_shape(&quantizer, dim, nlist, faiss::METRIC_INNER_PRODUCT);
    const auto scorer = detail::coarse_scorer::for_index(ivf_shape);
    REQUIRE(scorer);
    const auto queries = normalised(gen, 100000, 40, dim);
    for (int nprobe : {1, 3, 5}) {
      for (int i = 0; i < 40; ++i) {
        const float* q = queries.data() + i * dim;
        std::vector<float> want_scores(nprobe), got_scores(nprobe);
        std::vector<detail::list_id> want_lists(nprobe), got_lists(nprobe);
        quantizer.search(1, q, nprobe, want_scores.data(), want_lists.data());
        scorer->assign(q, nprobe, got_lists.data(), got_scores.data());
        INFO("nprobe ", nprobe, " query ", i);
        CHECK(got_lists == want_lists);
        CHECK(got_scores == want_scores);  // exact: the same additions in the same order
      }
    }
  }
}

TEST_CASE("the coarse scorer declines quantisers it does not reproduce") {
  faiss::IndexFlatL2 l2(8);
  std::vector<float> c(8 * 4, 0.5f);
  l2.add(4, c.data());
  faiss::IndexIVFFlat by_l2(&l2, 8, 4, faiss::METRIC_L2);
  CHECK_FALSE(detail::coarse_scorer::for_index(by_l2));
}

TEST_CASE("an IVF index searched a few queries at a time finds what FAISS's search finds") {
  const int dim = 32, k = 10;
  const test::clustered_vectors gen(dim, 64, 1.0f, 5);
  const auto base = gen.rows(0, 20000);
  const auto queries = gen.rows(500000, 12);
  // What similarity_index hands FAISS: the queries normalised.
  auto normalised_queries = queries;
  l2_normalise_rows(normalised_queries, dim);
  const auto file = test::tmp_dir("coarse_scorer") / "ivf.faiss";
  for (const std::string kind : {"ivf-sq8", "ivf-flat"}) {
    INFO(kind);
    index_options o;
    o.kind = parse_index_kind(kind, "--kind");
    o.nlist = 128;
    similarity_index idx(dim, o, 20000);
    idx.train(base.data(), 20000);
    idx.add(base.data(), 20000);
    idx.save(file);
    // FAISS's own search over the same file: one query at a time, its scalar coarse step.
    std::unique_ptr<faiss::Index> raw(faiss::read_index(file.c_str()));
    auto* ivf = dynamic_cast<faiss::IndexIVF*>(raw.get());
    REQUIRE(ivf != nullptr);
    for (int nprobe : {1, 4, 16}) {
      INFO("nprobe ", nprobe);
      ivf->nprobe = static_cast<std::size_t>(nprobe);
      std::vector<float> want_scores(12 * k);
      std::vector<faiss::Index::idx_t> want_ids(12 * k);
      for (int i = 0; i < 12; ++i)
        ivf->search(1, normalised_queries.data() + i * dim, k, want_scores.data() + i * k,
                    want_ids.data() + i * k);
      const auto one_call = idx.search_nprobe(queries.data(), 12, k, nprobe);
      idx.set_search_options({nprobe});
      const auto set_once = idx.search(queries.data(), 12, k);
      for (const auto* got : {&one_call, &set_once}) {
        CHECK(got->ids == std::vector<std::int64_t>(want_ids.begin(), want_ids.end()));
        CHECK(got->scores == want_scores);
      }
    }
  }
}
