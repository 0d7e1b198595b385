// Question: which approximate index answers k-NN queries over tens of millions of galaxy
// embeddings with recall@10 >= 0.9 in under 10 ms a query, in how much memory and build time?
// In one run, side by side for each index kind and each nprobe: recall@10 against exact search
// (brute force over the same rows, computed on the stream), ms per query (one query at a time,
// as a user asks, and in one batch), the index's memory (resident-set growth while it is
// built) and its build time (training + adding).
//
// The vectors are synthetic and clustered (tests/support/clustered_vectors.hpp: `--clusters`
// random directions plus Gaussian noise of `--spread` times their norm), regenerated slab by
// slab from the counter-based generator, so only the index under test is ever in memory.
//   bench_search                                  # 10M x 128, ivf-sq8 and ivf-pq (< 2 GB)
//   bench_search --rows 200000 --kinds ivf-sq8    # a dry run, ~1 min on 2 cores
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <string>
#include <vector>

#include "skyssl/core/error.hpp"
#include "skyssl/search/similarity_index.hpp"
#include "tests/support/clustered_vectors.hpp"

using namespace skyssl;
using clock_type = std::chrono::steady_clock;

namespace {

double since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

// Resident set size in bytes (Linux).
double rss_bytes() {
  std::ifstream f("/proc/self/status");
  std::string key;
  while (f >> key) {
    if (key == "VmRSS:") {
      double kb = 0;
      f >> kb;
      return kb * 1024.0;
    }
    f.ignore(1 << 20, '\n');
  }
  return 0;
}

struct args {
  std::int64_t rows = 10'000'000;
  int dim = 128;
  std::int64_t clusters = 10'000;
  float spread = 0.5f;
  std::int64_t queries = 200;
  int k = 10;
  std::vector<std::string> kinds = {"ivf-sq8", "ivf-pq"};
  std::int64_t nlist = 0;
  int pq_m = 32;
  std::string refine = "sq8";
  std::vector<std::int64_t> nprobe = {8, 16, 32, 64};
  int k_factor = 4;
  std::int64_t train_rows = 0;
  std::int64_t slab = 1 << 18;
  std::uint64_t seed = 1;
};

// Exact top-k of the queries over all rows, merged slab by slab.
void exact_topk(const args& a, const test::clustered_vectors& gen, const std::vector<float>& q,
                std::vector<std::int64_t>& ids, double& seconds) {
  const auto t0 = clock_type::now();
  std::vector<std::int64_t> best_id(a.queries * a.k, -1);
  std::vector<float> best(a.queries * a.k, -2.0f);
  std::vector<float> slab;
  for (std::int64_t s = 0; s < a.rows; s += a.slab) {
    const std::int64_t m = std::min(a.slab, a.rows - s);
    slab.resize(static_cast<std::size_t>(m) * a.dim);
    gen.rows(s, m, slab.data());
    search::similarity_index flat(a.dim);
    flat.add(slab.data(), m);
    const auto nn = flat.search(q.data(), a.queries, std::min<std::int64_t>(a.k, m));
    for (std::int64_t i = 0; i < a.queries; ++i)
      for (std::int64_t j = 0; j < nn.k; ++j) {
        const float sc = nn.scores[i * nn.k + j];
        float* b = best.data() + i * a.k;
        std::int64_t* bi = best_id.data() + i * a.k;
        if (sc <= b[a.k - 1]) break;  // nn is sorted: the rest are worse
        int p = a.k - 1;
        while (p > 0 && b[p - 1] < sc) {
          b[p] = b[p - 1];
          bi[p] = bi[p - 1];
          --p;
        }
        b[p] = sc;
        bi[p] = s + nn.ids[i * nn.k + j];
      }
  }
  ids = best_id;
  seconds = since(t0);
}

int run(const args& a) {
  const test::clustered_vectors gen(a.dim, a.clusters, a.spread, a.seed);
  // Queries: rows past the indexed ones, from the same clusters.
  const auto q = gen.rows(a.rows + 1'000'000, a.queries);
  fmt::print(
      "bench_search: {} x {}-d clustered vectors ({} clusters, spread {}), {} queries, "
      "k = {}\n",
      a.rows, a.dim, a.clusters, a.spread, a.queries, a.k);
  std::vector<std::int64_t> truth;
  double exact_s = 0;
  exact_topk(a, gen, q, truth, exact_s);
  fmt::print(
      "exact (flat, brute force streamed over slabs): {:.1f} s for {} queries = {:.1f} ms "
      "a query (its memory would be {:.2f} GB held whole)\n\n",
      exact_s, a.queries, 1e3 * exact_s / a.queries, 4.0 * a.dim * a.rows / 1e9);
  fmt::print("{:<26} {:>8} {:>9} {:>10} {:>7} {:>10} {:>12} {:>12}\n", "index", "build s",
             "memory GB", "B per row", "nprobe", "recall@10", "ms/query(1)", "ms/query(B)");
  for (const auto& spec : a.kinds) {
    search::index_options o;
    const auto slash = spec.find('/');
    o.kind = search::parse_index_kind(spec.substr(0, slash), "--kinds");
    o.refine = slash == std::string::npos ? a.refine : spec.substr(slash + 1);
    o.nlist = a.nlist;
    o.pq_m = a.pq_m;
    const double rss0 = rss_bytes();
    const auto t0 = clock_type::now();
    search::similarity_index idx(a.dim, o, a.rows);
    if (idx.needs_training()) {
      const std::int64_t want = a.train_rows > 0 ? a.train_rows : idx.training_rows_wanted();
      const std::int64_t m = std::min(a.rows, want), stride = std::max<std::int64_t>(1, a.rows / m);
      std::vector<float> sample(static_cast<std::size_t>(m) * a.dim);
      for (std::int64_t i = 0; i < m; ++i) gen.rows(i * stride, 1, sample.data() + i * a.dim);
      idx.train(sample.data(), m);
    }
    std::vector<float> slab;
    for (std::int64_t s = 0; s < a.rows; s += a.slab) {
      const std::int64_t m = std::min(a.slab, a.rows - s);
      slab.resize(static_cast<std::size_t>(m) * a.dim);
      gen.rows(s, m, slab.data());
      idx.add(slab.data(), m);
    }
    slab.clear();
    slab.shrink_to_fit();
    const double build_s = since(t0);
    const double mem = std::max(0.0, rss_bytes() - rss0);
    for (const auto np : a.nprobe) {
      idx.set_search_options({np, 128, a.k_factor});
      // One query at a time (latency), then all at once (throughput).
      std::vector<std::int64_t> found;
      const auto t1 = clock_type::now();
      for (std::int64_t i = 0; i < a.queries; ++i) {
        const auto nn = idx.search(q.data() + i * a.dim, 1, a.k);
        found.insert(found.end(), nn.ids.begin(), nn.ids.end());
      }
      const double one = 1e3 * since(t1) / a.queries;
      const auto t2 = clock_type::now();
      const auto batch = idx.search(q.data(), a.queries, a.k);
      const double many = 1e3 * since(t2) / a.queries;
      const double recall = test::recall_at_k(found, truth, a.k);
      fmt::print("{:<26} {:>8.1f} {:>9.2f} {:>10.0f} {:>7} {:>10.3f} {:>12.2f} {:>12.2f}{}\n",
                 idx.description(), build_s, mem / 1e9, mem / a.rows, np, recall, one, many,
                 recall >= 0.9 && one < 10.0 ? "  <- meets 0.9 @ 10 ms" : "");
      if (batch.ids != found) fmt::print("  (batch and one-by-one answers differ)\n");
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bench_search: approximate similarity indexes vs exact search"};
  args a;
  app.add_option("--rows", a.rows, "indexed vectors (10M by default; 200000 for a dry run)")
      ->check(CLI::PositiveNumber);
  app.add_option("--dim", a.dim, "vector width")->check(CLI::PositiveNumber);
  app.add_option("--clusters", a.clusters, "cluster centres")->check(CLI::PositiveNumber);
  app.add_option("--spread", a.spread, "noise norm / centre norm");
  app.add_option("--queries", a.queries, "queries (not among the indexed rows)")
      ->check(CLI::PositiveNumber);
  app.add_option("--k", a.k, "neighbours (recall@k)")->check(CLI::PositiveNumber);
  app.add_option("--kinds", a.kinds,
                 "indexes: ivf-flat, ivf-sq8, ivf-pq[/none|sq8|fp16|flat], "
                 "hnsw, flat")
      ->delimiter(',');
  app.add_option("--nlist", a.nlist, "IVF lists (0: about 2 sqrt(rows))");
  app.add_option("--pq-m", a.pq_m, "ivf-pq bytes per row");
  app.add_option("--refine", a.refine, "ivf-pq re-ranking copy when a kind names none");
  app.add_option("--nprobe", a.nprobe, "IVF lists visited, compared side by side")->delimiter(',');
  app.add_option("--k-factor", a.k_factor, "ivf-pq candidates re-ranked per neighbour");
  app.add_option("--train-rows", a.train_rows, "training sample (0: what the index needs)");
  app.add_option("--slab", a.slab, "rows generated and added at a time");
  app.add_option("--seed", a.seed, "generator seed");
  CLI11_PARSE(app, argc, argv);
  try {
    return run(a);
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench_search: {}\n", e.what());
    return 1;
  }
}
