#include "skyssl/search/detail/index_file.hpp"

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVF.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/IndexRefine.h>
#include <faiss/IndexScalarQuantizer.h>
#include <faiss/impl/FaissAssert.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/io.h>
#include <faiss/index_io.h>
#include <faiss/invlists/InvertedLists.h>
#include <faiss/invlists/InvertedListsIOHook.h>
#include <fmt/format.h>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "skyssl/core/error.hpp"

namespace skyssl::search::detail {
namespace {

using faiss_id = decltype(faiss::Index::ntotal);

// Counts FAISS reads of 64-bit sizes and refuses any larger than the bytes left in the file
// (a legitimate count is followed by at least that many bytes), except values up to 2^20
// (FAISS's own header placeholders and small fields), before FAISS allocates for them. Also
// refuses files that nest more indexes than skyssl's deepest (IVF-PQ + quantiser + refine).
class bounded_reader : public faiss::IOReader {
 public:
  bounded_reader(const std::filesystem::path& path) : path_(path) {
    name = path.string();
    f_ = std::fopen(path.c_str(), "rb");
    if (!f_) throw data_error(fmt::format("cannot open index file '{}'", path.string()));
    std::fseek(f_, 0, SEEK_END);
    size_ = static_cast<std::uint64_t>(std::ftell(f_));
    std::fseek(f_, 0, SEEK_SET);
  }
  ~bounded_reader() override {
    if (f_) std::fclose(f_);
  }
  bounded_reader(const bounded_reader&) = delete;
  bounded_reader& operator=(const bounded_reader&) = delete;

  size_t operator()(void* ptr, size_t size, size_t nitems) override {
    if (size != 0 && nitems > (size_ - pos_) / size)
      refuse(fmt::format("{} items of {} bytes asked for at byte {}, past its end", nitems, size,
                         pos_));
    const size_t got = std::fread(ptr, size, nitems, f_);
    pos_ += static_cast<std::uint64_t>(got) * size;
    if (got == 1 && size == 8) {
      std::uint64_t v;
      std::memcpy(&v, ptr, 8);
      if (v > (std::uint64_t{1} << 20) && v > size_ - pos_)
        refuse(fmt::format("it declares a count of {} with {} bytes left", v, size_ - pos_));
    }
    if (got == 1 && size == 4) {
      // Index fourccs are 'I' and three letters or digits ("IxFI", "IwPQ", "IxRF", ...).
      const auto* c = static_cast<const unsigned char*>(ptr);
      const bool fourcc =
          c[0] == 'I' && std::isalnum(c[1]) && std::isalnum(c[2]) && std::isalnum(c[3]);
      if (fourcc && ++index_headers_ > max_index_headers)
        refuse("it nests more indexes than any index skyssl builds");
    }
    return got;
  }
  int fileno() override { return -1; }  // nothing in this file is ever memory-mapped

  std::uint64_t left() const { return size_ - pos_; }
  [[noreturn]] void refuse(const std::string& why) const {
    throw data_error(
        fmt::format("'{}' is not a FAISS index file skyssl can read: {}", path_.string(), why));
  }

 private:
  static constexpr int max_index_headers = 8;
  std::filesystem::path path_;
  std::FILE* f_ = nullptr;
  std::uint64_t size_ = 0, pos_ = 0;
  int index_headers_ = 0;
};

// FAISS hands inverted lists ("ilar") to a hook when IO_FLAG_SKIP_IVF_DATA carries a hook's
// fourcc in its upper 16 bits (the mechanism of IO_FLAG_MMAP). Ours reads the lists into
// memory as FAISS would, after checking that their sizes fit in what is left of the file.
// The same flag keeps FAISS's on-disk lists ("ilod") from mapping the file they name.
constexpr const char* hook_key = "ilsk";

struct checked_array_lists_hook : faiss::InvertedListsIOHook {
  checked_array_lists_hook()
      : faiss::InvertedListsIOHook(hook_key, "skyssl::checked_array_lists") {}

  void write(const faiss::InvertedLists*, faiss::IOWriter*) const override {
    FAISS_THROW_MSG("skyssl's checked list reader does not write");
  }
  faiss::InvertedLists* read(faiss::IOReader*, int) const override {
    FAISS_THROW_MSG("inverted lists of an unknown kind");
  }
  faiss::InvertedLists* read_ArrayInvertedLists(faiss::IOReader* f, int, size_t nlist,
                                                size_t code_size,
                                                const std::vector<size_t>& sizes) const override {
    auto* reader = dynamic_cast<bounded_reader*>(f);
    FAISS_THROW_IF_NOT_MSG(reader, "inverted lists read outside skyssl's reader");
    FAISS_THROW_IF_NOT_MSG(sizes.size() == nlist, "inverted list count differs from nlist");
    FAISS_THROW_IF_NOT_MSG(code_size > 0 && code_size < (1u << 20), "code size out of range");
    const std::uint64_t row_bytes = code_size + sizeof(faiss_id);
    std::uint64_t rows = 0;
    for (const auto n : sizes) {
      if (n > reader->left() / row_bytes || rows + n > reader->left() / row_bytes)
        reader->refuse(fmt::format("its inverted lists declare more rows than the {} bytes left",
                                   reader->left()));
      rows += n;
    }
    auto lists = std::make_unique<faiss::ArrayInvertedLists>(nlist, code_size);
    for (size_t i = 0; i < nlist; ++i) {
      const size_t n = sizes[i];
      if (n == 0) continue;
      lists->codes[i].resize(n * code_size);
      lists->ids[i].resize(n);
      FAISS_THROW_IF_NOT_MSG((*f)(lists->codes[i].data(), 1, n * code_size) == n * code_size,
                             "inverted list codes cut short");
      FAISS_THROW_IF_NOT_MSG((*f)(lists->ids[i].data(), sizeof(faiss_id), n) == n,
                             "inverted list ids cut short");
    }
    return lists.release();
  }
};

int read_flags() {
  static std::once_flag once;
  std::call_once(once, [] {
    faiss::InvertedListsIOHook::add_callback(new checked_array_lists_hook());  // FAISS owns it
  });
  const int hook_bits = static_cast<int>(faiss::fourcc(hook_key) & 0xffff0000u);
  return faiss::IO_FLAG_READ_ONLY | faiss::IO_FLAG_SKIP_IVF_DATA | hook_bits;
}

// --- structure ---------------------------------------------------------------------------

struct checker {
  const std::filesystem::path& path;

  [[noreturn]] void fail(const std::string& what) const {
    throw data_error(fmt::format("index file '{}' is damaged or not one skyssl builds: {}",
                                 path.string(), what));
  }
  void need(bool ok, const std::string& what) const {
    if (!ok) fail(what);
  }

  void header(const faiss::Index& ix, faiss_id d) const {
    need(ix.d == d, fmt::format("a part of dimension {} in an index of dimension {}", ix.d, d));
    need(ix.ntotal >= 0, fmt::format("{} rows", ix.ntotal));
    need(ix.metric_type == faiss::METRIC_INNER_PRODUCT,
         "another metric than inner product (cosine)");
  }

  void flat_codes(const faiss::IndexFlatCodes& f, std::size_t code_size) const {
    need(f.code_size == code_size,
         fmt::format("rows of {} bytes, expected {}", f.code_size, code_size));
    need(f.codes.size() / code_size == static_cast<std::size_t>(f.ntotal) &&
             f.codes.size() % code_size == 0,
         fmt::format("{} bytes of rows for {} rows", f.codes.size(), f.ntotal));
  }

  void flat(const faiss::Index& ix, faiss_id d) const {
    const auto* f = dynamic_cast<const faiss::IndexFlat*>(&ix);
    need(f != nullptr, "a flat part that is not an IndexFlat");
    header(ix, d);
    flat_codes(*f, static_cast<std::size_t>(d) * sizeof(float));
  }

  void scalar_quantiser(const faiss::ScalarQuantizer& sq, faiss_id d) const {
    need(sq.d == static_cast<std::size_t>(d), "a scalar quantiser of another dimension");
    if (sq.qtype == faiss::ScalarQuantizer::QT_8bit) {
      need(sq.code_size == static_cast<std::size_t>(d) &&
               sq.trained.size() == 2 * static_cast<std::size_t>(d),
           "an 8-bit scalar quantiser of inconsistent size");
    } else if (sq.qtype == faiss::ScalarQuantizer::QT_fp16) {
      need(sq.code_size == 2 * static_cast<std::size_t>(d), "an fp16 quantiser of another size");
    } else {
      fail("a scalar quantiser other than SQ8 or SQfp16");
    }
  }

  void ivf(const faiss::IndexIVF& v, faiss_id d) const {
    header(v, d);
    need(v.nlist > 0, "no inverted lists");
    need(v.quantizer != nullptr, "no coarse quantiser");
    flat(*v.quantizer, d);
    need(v.quantizer->ntotal == static_cast<faiss_id>(v.nlist),
         fmt::format("{} coarse centroids for {} lists", v.quantizer->ntotal, v.nlist));
    need(v.direct_map.type == faiss::DirectMap::NoMap, "a direct map (skyssl builds none)");
    const auto* lists = dynamic_cast<const faiss::ArrayInvertedLists*>(v.invlists);
    need(lists != nullptr,
         "inverted lists that are not held in the file (e.g. on-disk lists "
         "naming another file)");
    need(lists->nlist == v.nlist && lists->code_size == v.code_size,
         fmt::format("{} lists of {}-byte codes in an index of {} lists of {}-byte codes",
                     lists->nlist, lists->code_size, v.nlist, v.code_size));
    faiss_id rows = 0;
    for (std::size_t l = 0; l < lists->nlist; ++l) {
      const auto& ids = lists->ids[l];
      need(lists->codes[l].size() == ids.size() * v.code_size,
           fmt::format("list {} has codes for another row count", l));
      for (const auto id : ids)
        need(id >= 0 && id < v.ntotal,
             fmt::format("list {} holds row id {}, outside 0 to {}", l, id, v.ntotal - 1));
      rows += static_cast<faiss_id>(ids.size());
    }
    need(rows == v.ntotal, fmt::format("lists hold {} rows, the index says {}", rows, v.ntotal));
    if (const auto* pq = dynamic_cast<const faiss::IndexIVFPQ*>(&v)) {
      const auto& q = pq->pq;
      need(q.d == static_cast<std::size_t>(d) && q.M > 0 && q.M * q.dsub == q.d && q.nbits == 8 &&
               q.ksub == 256 && q.centroids.size() == q.d * q.ksub && q.code_size == q.M &&
               v.code_size == q.M,
           "a product quantiser of inconsistent size");
    } else if (const auto* sq = dynamic_cast<const faiss::IndexIVFScalarQuantizer*>(&v)) {
      scalar_quantiser(sq->sq, d);
      need(sq->code_size == sq->sq.code_size, "SQ codes of another size than the quantiser's");
    } else if (dynamic_cast<const faiss::IndexIVFFlat*>(&v)) {
      need(v.code_size == static_cast<std::size_t>(d) * sizeof(float),
           "IVF-Flat codes of another size than a row");
    } else {
      fail("an IVF index other than IVF-Flat, IVF-SQ8 or IVF-PQ");
    }
  }

  void hnsw(const faiss::IndexHNSW& h, faiss_id d) const {
    header(h, d);
    need(h.storage != nullptr && dynamic_cast<const faiss::IndexFlat*>(h.storage),
         "an HNSW index whose storage is not flat");
    flat(*h.storage, d);
    need(h.storage->ntotal == h.ntotal, "an HNSW graph over another row count than its storage");
    const auto& g = h.hnsw;
    const auto n = static_cast<std::size_t>(h.ntotal);
    const auto& cum = g.cum_nneighbor_per_level;
    need(cum.size() >= 2 && cum[0] == 0, "no neighbour counts per level");
    for (std::size_t l = 1; l < cum.size(); ++l)
      need(cum[l] >= cum[l - 1] && cum[l] - cum[l - 1] <= 4096,
           fmt::format("level {} has {} neighbours", l - 1, cum[l] - cum[l - 1]));
    need(cum[1] - cum[0] >= 2, "an HNSW graph with fewer than 2 neighbours on level 0");
    need(g.levels.size() == n && g.offsets.size() == n + 1 && g.offsets[0] == 0,
         "HNSW levels and offsets of another row count");
    for (std::size_t i = 0; i < n; ++i) {
      const int lv = g.levels[i];
      need(lv >= 1 && static_cast<std::size_t>(lv) < cum.size(),
           fmt::format("row {} on level {}", i, lv - 1));
      need(g.offsets[i + 1] >= g.offsets[i] &&
               g.offsets[i + 1] - g.offsets[i] == static_cast<std::size_t>(cum[lv]),
           fmt::format("row {}'s neighbour slots do not match its level", i));
    }
    need(g.neighbors.size() == g.offsets[n], "HNSW neighbour table of another size");
    need(g.max_level >= -1 && static_cast<std::size_t>(g.max_level + 1) < cum.size(),
         fmt::format("an HNSW maximum level of {}", g.max_level));
    if (n == 0) return;
    need(g.entry_point >= 0 && static_cast<std::size_t>(g.entry_point) < n &&
             g.levels[g.entry_point] == g.max_level + 1,
         fmt::format("an HNSW entry point {} not on the top level", g.entry_point));
    // Every link points at a row that exists on that level: search follows them unchecked.
    for (std::size_t i = 0; i < n; ++i)
      for (int l = 0; l < g.levels[i]; ++l)
        for (std::size_t s = g.offsets[i] + cum[l]; s < g.offsets[i] + cum[l + 1]; ++s) {
          const auto j = g.neighbors[s];
          if (j < 0) continue;  // unused slot
          need(static_cast<std::size_t>(j) < n && g.levels[j] > l,
               fmt::format("row {} links to row {} on level {}", i, j, l));
        }
  }
};

}  // namespace

void check_index_structure(const faiss::Index& ix, const std::filesystem::path& path) {
  const checker c{path};
  const faiss_id d = ix.d;
  c.need(d > 0 && d <= (1 << 16), fmt::format("dimension {}", d));
  if (const auto* r = dynamic_cast<const faiss::IndexRefine*>(&ix)) {
    c.header(ix, d);
    c.need(r->base_index && r->refine_index, "a refine index without its parts");
    const auto* base = dynamic_cast<const faiss::IndexIVFPQ*>(r->base_index);
    c.need(base != nullptr, "a refine index over something other than IVF-PQ");
    c.ivf(*base, d);
    c.header(*r->refine_index, d);
    if (const auto* sq = dynamic_cast<const faiss::IndexScalarQuantizer*>(r->refine_index)) {
      c.scalar_quantiser(sq->sq, d);
      c.flat_codes(*sq, sq->sq.code_size);
    } else {
      c.flat(*r->refine_index, d);
    }
    c.need(base->ntotal == ix.ntotal && r->refine_index->ntotal == ix.ntotal,
           "a refine index whose parts hold other row counts");
    c.need(std::isfinite(r->k_factor), "a refine factor that is not finite");
  } else if (const auto* h = dynamic_cast<const faiss::IndexHNSW*>(&ix)) {
    c.need(dynamic_cast<const faiss::IndexHNSWFlat*>(&ix) != nullptr,
           "an HNSW index other than HNSW-Flat");
    c.hnsw(*h, d);
  } else if (const auto* v = dynamic_cast<const faiss::IndexIVF*>(&ix)) {
    c.ivf(*v, d);
  } else if (dynamic_cast<const faiss::IndexFlat*>(&ix)) {
    c.flat(ix, d);
  } else {
    c.fail("an index type skyssl does not build");
  }
}

std::unique_ptr<faiss::Index> read_index_file(const std::filesystem::path& path) {
  std::unique_ptr<faiss::Index> ix;
  try {
    bounded_reader reader(path);
    ix.reset(faiss::read_index(&reader, read_flags()));
  } catch (const faiss::FaissException& e) {
    throw data_error(
        fmt::format("'{}' is not a FAISS index file skyssl can read ({})", path.string(), e.msg));
  } catch (const std::bad_alloc&) {
    throw data_error(
        fmt::format("'{}' is not a FAISS index file skyssl can read (it asks for "
                    "more memory than it can hold)",
                    path.string()));
  } catch (const std::length_error& e) {
    throw data_error(fmt::format("'{}' is not a FAISS index file skyssl can read ({})",
                                 path.string(), e.what()));
  }
  if (!ix) throw data_error(fmt::format("'{}' holds no index", path.string()));
  check_index_structure(*ix, path);
  return ix;
}

}  // namespace skyssl::search::detail
