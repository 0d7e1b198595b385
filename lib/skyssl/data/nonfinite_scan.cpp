#include "skyssl/data/nonfinite_scan.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "skyssl/core/error.hpp"
#include "skyssl/core/thread_pool.hpp"

namespace skyssl::data {

std::vector<std::int64_t> find_nonfinite_rows(const archive& ar, std::int64_t begin,
                                              std::int64_t end, int threads) {
  begin = std::max<std::int64_t>(0, begin);
  end = std::min(end, ar.size());
  if (end <= begin) return {};
  const std::int64_t pix = static_cast<std::int64_t>(ar.channels()) * ar.height() * ar.width();
  const std::int64_t block = std::max<std::int64_t>(1, (std::int64_t{16} << 20) / (pix * 4));
  const int t =
      static_cast<int>(std::clamp<std::int64_t>(threads, 1, (end - begin + block - 1) / block));
  std::vector<std::vector<std::int64_t>> found(static_cast<std::size_t>(t));
  auto work = [&](std::size_t w_lo, std::size_t, int) {
    const auto w = static_cast<std::int64_t>(w_lo);
    std::vector<float> buf(static_cast<std::size_t>(block * pix));
    const std::int64_t lo = begin + (end - begin) * w / t, hi = begin + (end - begin) * (w + 1) / t;
    std::vector<std::int64_t> rows;
    std::vector<float*> dst;
    for (std::int64_t s = lo; s < hi; s += block) {
      const std::int64_t n = std::min(block, hi - s);
      rows.resize(static_cast<std::size_t>(n));
      dst.resize(rows.size());
      for (std::int64_t k = 0; k < n; ++k) {
        rows[static_cast<std::size_t>(k)] = s + k;
        dst[static_cast<std::size_t>(k)] = buf.data() + k * pix;
      }
      ar.read_images_into(rows.data(), rows.size(), dst.data(), false,
                          &found[static_cast<std::size_t>(w)]);
    }
  };
  thread_pool(t).parallel_for(static_cast<std::size_t>(t), work);  // share w = block range w
  std::vector<std::int64_t> out;
  for (auto& f : found) out.insert(out.end(), f.begin(), f.end());
  return out;  // blocks are in order, so already ascending
}

std::vector<std::int64_t> find_nonfinite_rows(const archive& ar, int rank, int world,
                                              const row_exchange& exchange, int threads) {
  std::vector<std::int64_t> rows;
  if (exchange && world > 1) {
    const std::int64_t n = ar.size();
    rows = exchange(find_nonfinite_rows(ar, n * rank / world, n * (rank + 1) / world, threads));
  } else {
    rows = find_nonfinite_rows(ar, 0, ar.size(), threads);
  }
  std::sort(rows.begin(), rows.end());
  rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
  return rows;
}

kept_rows::kept_rows(std::int64_t n, std::vector<std::int64_t> excluded)
    : n_(n), excluded_(std::move(excluded)) {
  if (!std::is_sorted(excluded_.begin(), excluded_.end()) ||
      std::adjacent_find(excluded_.begin(), excluded_.end()) != excluded_.end() ||
      (!excluded_.empty() && (excluded_.front() < 0 || excluded_.back() >= n)))
    throw data_error(
        fmt::format("kept_rows: {} excluded rows are not sorted, distinct rows of [0, {})",
                    excluded_.size(), n));
}

std::int64_t kept_rows::id(std::int64_t position) const {
  if (position < 0 || position >= kept())
    throw data_error(fmt::format("kept_rows: position {} outside [0, {})", position, kept()));
  // Smallest v with v - #excluded(<= v) == position and v not excluded: iterate the count.
  std::int64_t v = position;
  for (;;) {
    const auto below = static_cast<std::int64_t>(
        std::upper_bound(excluded_.begin(), excluded_.end(), v) - excluded_.begin());
    const std::int64_t next = position + below;
    if (next == v) return v;
    v = next;
  }
}

}  // namespace skyssl::data
