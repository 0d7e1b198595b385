#include "skyssl/data/archive_stats.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "skyssl/core/philox.hpp"

namespace skyssl::data {

void value_stats::add(double v) {
  if (std::isnan(v)) {
    ++nan;
  } else if (std::isinf(v)) {
    ++inf;
  } else {
    if (n == 0) {
      lo = hi = v;
    } else {
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
    sum += v;
    sum2 += v * v;
    ++n;
  }
}

void value_stats::merge(const value_stats& o) {
  if (o.n > 0) {
    lo = n > 0 ? std::min(lo, o.lo) : o.lo;
    hi = n > 0 ? std::max(hi, o.hi) : o.hi;
  }
  sum += o.sum;
  sum2 += o.sum2;
  n += o.n;
  nan += o.nan;
  inf += o.inf;
}

std::string value_stats::str() const {
  if (n == 0) return fmt::format("no finite values  nan {}  inf {}", nan, inf);
  const double mean = sum / static_cast<double>(n);
  const double sd = std::sqrt(std::max(0.0, sum2 / static_cast<double>(n) - mean * mean));
  return fmt::format("min {:<12.6g} max {:<12.6g} mean {:<12.6g} std {:<12.6g} nan {}  inf {}", lo,
                     hi, mean, sd, nan, inf);
}

std::vector<std::int64_t> sample_rows(std::int64_t n, std::int64_t count, std::uint64_t seed) {
  std::vector<std::int64_t> rows;
  if (n <= 0 || count <= 0) return rows;
  if (count >= n) {
    rows.resize(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) rows[static_cast<std::size_t>(i)] = i;
    return rows;
  }
  rows.reserve(static_cast<std::size_t>(count));
  for (std::int64_t k = 0; k < count; ++k) {
    const std::int64_t lo = n * k / count, hi = n * (k + 1) / count;  // hi > lo since count < n
    const auto w = rng::draw({seed, 0, static_cast<std::uint64_t>(k), 0, rng::user}, 0);
    const double u = rng::to_unit_double(w.v[0], w.v[1]);
    rows.push_back(lo + std::min<std::int64_t>(hi - lo - 1, static_cast<std::int64_t>(
                                                                u * static_cast<double>(hi - lo))));
  }
  return rows;
}

void pixel_stats::merge(const pixel_stats& o) {
  if (bands.empty()) {
    *this = o;
    return;
  }
  for (std::size_t c = 0; c < bands.size() && c < o.bands.size(); ++c) {
    bands[c].merge(o.bands[c]);
    kept[c].insert(kept[c].end(), o.kept[c].begin(), o.kept[c].end());
  }
  rows += o.rows;
  bad_rows += o.bad_rows;
  if (o.first_bad >= 0 && (first_bad < 0 || o.first_bad < first_bad)) first_bad = o.first_bad;
}

double pixel_stats::percentile(int band, double p) const {
  auto v = kept[static_cast<std::size_t>(band)];
  if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
  const auto k =
      static_cast<std::size_t>(std::llround(p / 100.0 * static_cast<double>(v.size() - 1)));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

namespace {

// Reads rows in blocks (row_at(i), i < count) and accumulates.
template <class RowAt>
pixel_stats scan(const archive& ar, std::int64_t count, RowAt row_at, const pixel_scan_options& o) {
  const int C = ar.channels();
  const std::int64_t plane = static_cast<std::int64_t>(ar.height()) * ar.width();
  const std::int64_t pix = plane * C;
  pixel_stats st;
  st.bands.resize(static_cast<std::size_t>(C));
  st.kept.resize(static_cast<std::size_t>(C));
  // Keep every stride-th pixel of the concatenated rows: about keep_per_band per band.
  const std::int64_t stride =
      std::max<std::int64_t>(1, count * plane / std::max<std::int64_t>(1, o.keep_per_band));
  const std::int64_t block = std::clamp<std::int64_t>(o.block_bytes / (pix * 4), 1, 1 << 16);
  std::vector<float> buf(
      static_cast<std::size_t>(std::min(block, std::max<std::int64_t>(count, 1)) * pix));
  std::vector<std::int64_t> rows;
  std::vector<float*> dst;
  std::vector<std::int64_t> bad;
  for (std::int64_t s = 0; s < count; s += block) {
    const std::int64_t n = std::min(block, count - s);
    rows.resize(static_cast<std::size_t>(n));
    dst.resize(rows.size());
    for (std::int64_t k = 0; k < n; ++k) {
      rows[static_cast<std::size_t>(k)] = row_at(s + k);
      dst[static_cast<std::size_t>(k)] = buf.data() + k * pix;
    }
    bad.clear();
    ar.read_images_into(rows.data(), rows.size(), dst.data(), false, &bad);
    if (!bad.empty()) {
      st.bad_rows += static_cast<std::int64_t>(bad.size());
      if (st.first_bad < 0) st.first_bad = bad.front();
    }
    for (std::int64_t k = 0; k < n; ++k) {
      const std::int64_t i = s + k;  // position among the rows scanned: keeps the stride
      for (int c = 0; c < C; ++c) {
        const float* p = dst[static_cast<std::size_t>(k)] + c * plane;
        auto& bs = st.bands[static_cast<std::size_t>(c)];
        for (std::int64_t q = 0; q < plane; ++q) bs.add(p[q]);
        auto& keep = st.kept[static_cast<std::size_t>(c)];
        const std::int64_t g = i * plane;
        for (std::int64_t q = (stride - g % stride) % stride; q < plane; q += stride)
          if (std::isfinite(p[q])) keep.push_back(p[q]);
      }
    }
    st.rows += n;
    if (o.progress) o.progress(s + n, count);
  }
  return st;
}

}  // namespace

pixel_stats scan_pixels(const archive& ar, const std::vector<std::int64_t>& rows,
                        const pixel_scan_options& options) {
  return scan(
      ar, static_cast<std::int64_t>(rows.size()),
      [&](std::int64_t i) { return rows[static_cast<std::size_t>(i)]; }, options);
}

pixel_stats scan_pixels(const archive& ar, std::int64_t begin, std::int64_t end,
                        const pixel_scan_options& options) {
  return scan(
      ar, std::max<std::int64_t>(0, end - begin), [&](std::int64_t i) { return begin + i; },
      options);
}

}  // namespace skyssl::data
