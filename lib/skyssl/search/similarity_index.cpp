#include "skyssl/search/similarity_index.hpp"

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVF.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/IndexRefine.h>
#include <faiss/IndexScalarQuantizer.h>
#include <faiss/impl/FaissException.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>
#include <faiss/utils/distances.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <system_error>

#include "skyssl/core/error.hpp"
#include "skyssl/core/durable_file.hpp"
#include "skyssl/search/detail/coarse_scorer.hpp"
#include "skyssl/search/detail/index_file.hpp"

namespace skyssl::search {
namespace {

using faiss_id = decltype(faiss::Index::ntotal);  // faiss::idx_t moved between versions

const char* sq_name(faiss::ScalarQuantizer::QuantizerType t) {
  switch (t) {
    case faiss::ScalarQuantizer::QT_8bit:
      return "SQ8";
    case faiss::ScalarQuantizer::QT_fp16:
      return "SQfp16";
    default:
      return "SQ";
  }
}

// The factory-like name of an index read back from a file.
std::string describe(const faiss::Index* ix) {
  if (auto* r = dynamic_cast<const faiss::IndexRefine*>(ix)) {
    std::string refine = "Flat";
    if (auto* sq = dynamic_cast<const faiss::IndexScalarQuantizer*>(r->refine_index))
      refine = sq_name(sq->sq.qtype);
    return describe(r->base_index) + ",Refine(" + refine + ")";
  }
  if (auto* h = dynamic_cast<const faiss::IndexHNSW*>(ix))
    return fmt::format("HNSW{},Flat", h->hnsw.nb_neighbors(0) / 2);
  if (auto* pq = dynamic_cast<const faiss::IndexIVFPQ*>(ix))
    return fmt::format("IVF{},PQ{}{}", pq->nlist, pq->pq.M, pq->do_polysemous_training ? "" : "np");
  if (auto* sq = dynamic_cast<const faiss::IndexIVFScalarQuantizer*>(ix))
    return fmt::format("IVF{},{}", sq->nlist, sq_name(sq->sq.qtype));
  if (auto* ivf = dynamic_cast<const faiss::IndexIVFFlat*>(ix))
    return fmt::format("IVF{},Flat", ivf->nlist);
  if (dynamic_cast<const faiss::IndexFlat*>(ix)) return "Flat";
  return "other";
}

faiss::IndexIVF* ivf_of(faiss::Index* ix) {
  if (auto* r = dynamic_cast<faiss::IndexRefine*>(ix)) return ivf_of(r->base_index);
  return dynamic_cast<faiss::IndexIVF*>(ix);
}

int pq_m_of(const index_options& o, int dim) { return o.pq_m > 0 ? o.pq_m : std::max(1, dim / 4); }

}  // namespace

index_kind parse_index_kind(const std::string& name, const std::string& what) {
  for (auto k : {index_kind::flat, index_kind::ivf_flat, index_kind::ivf_sq8, index_kind::ivf_pq,
                 index_kind::hnsw})
    if (name == to_string(k)) return k;
  throw config_error(fmt::format(
      "{} must be 'flat', 'ivf-flat', 'ivf-sq8', 'ivf-pq' or 'hnsw', got '{}'", what, name));
}

std::string to_string(index_kind kind) {
  switch (kind) {
    case index_kind::flat:
      return "flat";
    case index_kind::ivf_flat:
      return "ivf-flat";
    case index_kind::ivf_sq8:
      return "ivf-sq8";
    case index_kind::ivf_pq:
      return "ivf-pq";
    case index_kind::hnsw:
      return "hnsw";
  }
  return "?";
}

std::int64_t auto_nlist(std::int64_t rows) {
  const double target = 2.0 * std::sqrt(static_cast<double>(std::max<std::int64_t>(rows, 1)));
  std::int64_t n = 1;
  while (n * 2 <= target) n *= 2;
  return std::max<std::int64_t>(1, std::min(n, rows / 39));
}

std::string factory_string(const index_options& o, int dim, std::int64_t rows) {
  const std::int64_t nlist = o.nlist > 0 ? o.nlist : auto_nlist(rows);
  switch (o.kind) {
    case index_kind::flat:
      return "Flat";
    case index_kind::ivf_flat:
      return fmt::format("IVF{},Flat", nlist);
    case index_kind::ivf_sq8:
      return fmt::format("IVF{},SQ8", nlist);
    case index_kind::hnsw:
      if (o.hnsw_m < 2) throw config_error(fmt::format("hnsw M must be >= 2, got {}", o.hnsw_m));
      return fmt::format("HNSW{},Flat", o.hnsw_m);
    case index_kind::ivf_pq: {
      const int m = pq_m_of(o, dim);
      if (dim % m != 0)
        throw config_error(fmt::format(
            "ivf-pq: {} sub-quantisers do not divide the dimension {}; choose a divisor", m, dim));
      // "np": no polysemous training, which FAISS's factory otherwise adds for 8-bit PQ; it
      // only serves Hamming-distance filtering (unused here) and takes minutes.
      std::string s = fmt::format("IVF{},PQ{}np", nlist, m);
      if (o.refine == "sq8") return s + ",Refine(SQ8)";
      if (o.refine == "fp16") return s + ",Refine(SQfp16)";
      if (o.refine == "flat") return s + ",Refine(Flat)";
      if (o.refine == "none") return s;
      throw config_error(
          fmt::format("ivf-pq refine must be 'none', 'sq8', 'fp16' or 'flat', got '{}'", o.refine));
    }
  }
  return "Flat";
}

void l2_normalise_rows(float* rows, std::int64_t n, int dim, std::int64_t first_row_id) {
  for (std::int64_t i = 0; i < n; ++i) {
    float* r = rows + i * dim;
    double s = 0;
    for (int j = 0; j < dim; ++j) s += static_cast<double>(r[j]) * r[j];
    if (!(s > 0) || !std::isfinite(s))
      throw data_error(fmt::format("embedding row {} is zero or not finite; cannot normalise",
                                   first_row_id + i));
    const float inv = static_cast<float>(1.0 / std::sqrt(s));
    for (int j = 0; j < dim; ++j) r[j] *= inv;
  }
}

void l2_normalise_rows(std::vector<float>& rows, int dim, std::int64_t first_row_id) {
  l2_normalise_rows(rows.data(), static_cast<std::int64_t>(rows.size()) / dim, dim, first_row_id);
}

similarity_index::similarity_index(int dim)
    : similarity_index(dim, index_options{}, /*expected_rows=*/0) {}

similarity_index::similarity_index(int dim, const index_options& o, std::int64_t expected_rows)
    : dim_(dim) {
  if (dim <= 0) throw error(fmt::format("similarity_index: dimension must be > 0, got {}", dim));
  description_ = factory_string(o, dim, expected_rows);
  if (o.kind == index_kind::flat) {
    index_ = std::make_unique<faiss::IndexFlatIP>(dim);
    return;
  }
  try {
    index_.reset(faiss::index_factory(dim, description_.c_str(), faiss::METRIC_INNER_PRODUCT));
  } catch (const faiss::FaissException& e) {
    throw config_error(
        fmt::format("cannot build a '{}' index of dimension {}: {}", description_, dim, e.msg));
  }
  description_ = describe(index_.get());
}

similarity_index::~similarity_index() = default;
similarity_index::similarity_index(similarity_index&&) noexcept = default;
similarity_index& similarity_index::operator=(similarity_index&&) noexcept = default;

std::int64_t similarity_index::size() const { return index_->ntotal; }

bool similarity_index::needs_training() const { return !index_->is_trained; }

std::int64_t similarity_index::training_rows_wanted() const {
  if (!needs_training()) return 0;
  std::int64_t want = 0;
  if (auto* ivf = ivf_of(index_.get())) want = 39 * static_cast<std::int64_t>(ivf->nlist);
  if (dynamic_cast<faiss::IndexIVFPQ*>(ivf_of(index_.get())))
    want = std::max<std::int64_t>(want, 39 * 256);
  return std::max<std::int64_t>(want, 256);
}

void similarity_index::train(const float* rows, std::int64_t n) {
  std::vector<float> buf(rows, rows + n * dim_);
  l2_normalise_rows(buf, dim_, 0);
  const auto* ivf = ivf_of(index_.get());
  if (ivf && n < static_cast<std::int64_t>(ivf->nlist))
    throw data_error(
        fmt::format("{}: {} training rows are fewer than the {} IVF lists; use fewer "
                    "lists or more rows",
                    description_, n, ivf->nlist));
  if (dynamic_cast<const faiss::IndexIVFPQ*>(ivf) && n < 256)
    throw data_error(fmt::format(
        "{}: product quantisation needs at least 256 training rows, got {}", description_, n));
  try {
    index_->train(n, buf.data());
  } catch (const faiss::FaissException& e) {
    throw data_error(fmt::format("training the '{}' index failed: {}", description_, e.msg));
  }
  prepare_coarse_scorer();
}

void similarity_index::add(const float* rows, std::int64_t n) {
  if (needs_training())
    throw error(fmt::format("the '{}' index must be trained before rows are added", description_));
  std::vector<float> buf(rows, rows + n * dim_);
  l2_normalise_rows(buf, dim_, size());
  index_->add(n, buf.data());
}

void similarity_index::set_search_options(const search_options& s) {
  if (auto* ivf = ivf_of(index_.get()))
    ivf->nprobe = static_cast<std::size_t>(
        std::clamp<std::int64_t>(s.nprobe, 1, static_cast<std::int64_t>(ivf->nlist)));
  if (auto* h = dynamic_cast<faiss::IndexHNSW*>(index_.get())) h->hnsw.efSearch = s.ef_search;
  if (auto* r = dynamic_cast<faiss::IndexRefine*>(index_.get()))
    r->k_factor = static_cast<float>(std::max(1, s.k_factor));
}

neighbours similarity_index::search(const float* queries, std::int64_t n, std::int64_t k,
                                    std::int64_t chunk_rows) const {
  if (k <= 0 || k > size())
    throw error(
        fmt::format("similarity search: k = {} must be in [1, {}] (index size)", k, size()));
  neighbours out;
  out.k = k;
  out.ids.resize(n * k);
  out.scores.resize(n * k);
  for (std::int64_t b = 0; b < n; b += chunk_rows) {
    const std::int64_t m = std::min(chunk_rows, n - b);
    std::vector<float> q(queries + b * dim_, queries + (b + m) * dim_);
    l2_normalise_rows(q, dim_, b);
    std::vector<faiss_id> ids(m * k);
    if (!search_few(q.data(), m, k, nprobe(), out.scores.data() + b * k, ids.data()))
      index_->search(m, q.data(), k, out.scores.data() + b * k, ids.data());
    std::copy(ids.begin(), ids.end(), out.ids.begin() + b * k);
  }
  return out;
}

std::int64_t similarity_index::nprobe() const {
  const auto* ivf = ivf_of(index_.get());
  return ivf ? static_cast<std::int64_t>(ivf->nprobe) : 0;
}

std::int64_t similarity_index::nlist() const {
  const auto* ivf = ivf_of(index_.get());
  return ivf ? static_cast<std::int64_t>(ivf->nlist) : 0;
}

bool similarity_index::takes_nprobe_per_query() const {
  return dynamic_cast<const faiss::IndexIVF*>(index_.get()) != nullptr;
}

neighbours similarity_index::search_nprobe(const float* queries, std::int64_t n, std::int64_t k,
                                           std::int64_t nprobe) const {
  const auto* ivf = dynamic_cast<const faiss::IndexIVF*>(index_.get());
  if (!ivf)
    throw config_error(fmt::format(
        "nprobe: the '{}' index takes it only when loaded, not per query", description_));
  if (k <= 0 || k > size())
    throw error(
        fmt::format("similarity search: k = {} must be in [1, {}] (index size)", k, size()));
  faiss::SearchParametersIVF params;
  params.nprobe = static_cast<std::size_t>(
      std::clamp<std::int64_t>(nprobe, 1, static_cast<std::int64_t>(ivf->nlist)));
  std::vector<float> q(queries, queries + n * dim_);
  l2_normalise_rows(q, dim_, 0);
  neighbours out;
  out.k = k;
  out.ids.resize(n * k);
  out.scores.resize(n * k);
  std::vector<faiss_id> ids(n * k);
  if (!search_few(q.data(), n, k, static_cast<std::int64_t>(params.nprobe), out.scores.data(),
                  ids.data()))
    ivf->search(n, q.data(), k, out.scores.data(), ids.data(), &params);
  std::copy(ids.begin(), ids.end(), out.ids.begin());
  return out;
}

void similarity_index::prepare_coarse_scorer() {
  coarse_.reset();
  if (auto* ivf = dynamic_cast<const faiss::IndexIVF*>(index_.get()); ivf && ivf->is_trained)
    coarse_ = detail::coarse_scorer::for_index(*ivf);
}

bool similarity_index::search_few(const float* queries, std::int64_t n, std::int64_t k,
                                  std::int64_t nprobe, float* scores, std::int64_t* ids) const {
  // FAISS scores many queries against the centroids with BLAS, fast already; a few with the
  // scalar loop coarse_ replaces.
  if (!coarse_ || n >= faiss::distance_compute_blas_threshold) return false;
  const auto& ivf = dynamic_cast<const faiss::IndexIVF&>(*index_);
  nprobe = std::clamp<std::int64_t>(nprobe, 1, coarse_->nlist());
  std::vector<faiss_id> lists(n * nprobe);
  std::vector<float> list_scores(n * nprobe);
  for (std::int64_t i = 0; i < n; ++i)
    coarse_->assign(queries + i * dim_, nprobe, lists.data() + i * nprobe,
                    list_scores.data() + i * nprobe);
  faiss::SearchParametersIVF params;
  params.nprobe = static_cast<std::size_t>(nprobe);
  std::vector<faiss_id> found(n * k);
  ivf.search_preassigned(n, queries, k, lists.data(), list_scores.data(), scores, found.data(),
                         /*store_pairs=*/false, &params);
  std::copy(found.begin(), found.end(), ids);
  return true;
}

void similarity_index::save(const std::filesystem::path& path) const {
  atomic_output out(path);  // a unique temporary, removed unless committed
  try {
    faiss::write_index(index_.get(), out.temp_path().c_str());
  } catch (const faiss::FaissException& e) {
    throw error(fmt::format("cannot write the index '{}': {}", path.string(), e.msg));
  }
  out.commit();
}

similarity_index similarity_index::load(const std::filesystem::path& path) {
  if (!std::filesystem::exists(path))
    throw error(fmt::format("index file '{}' not found", path.string()));
  similarity_index s;
  // Read-only, bounded by the file's size, only skyssl's kinds, structure checked.
  s.index_ = detail::read_index_file(path);
  s.dim_ = static_cast<int>(s.index_->d);
  s.description_ = describe(s.index_.get());
  s.prepare_coarse_scorer();
  return s;
}

}  // namespace skyssl::search
