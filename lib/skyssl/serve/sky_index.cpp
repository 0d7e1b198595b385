#include "skyssl/serve/sky_index.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "skyssl/core/error.hpp"

namespace skyssl::serve {
namespace {

constexpr double deg = 3.14159265358979323846 / 180.0;
constexpr std::size_t leaf_rows = 8;
// Float unit vectors are good to ~1e-7; a chord this much larger than the best so far may
// still hide a nearer row once measured in double (1e-6 rad is 0.2 arcsec).
constexpr double float_slack = 1e-6;

void unit_vector(double ra_deg, double dec_deg, double v[3]) {
  const double ra = ra_deg * deg, dec = dec_deg * deg;
  v[0] = std::cos(dec) * std::cos(ra);
  v[1] = std::cos(dec) * std::sin(ra);
  v[2] = std::sin(dec);
}

}  // namespace

double separation_arcsec(double ra1, double dec1, double ra2, double dec2) {
  const double d1 = dec1 * deg, d2 = dec2 * deg, dra = (ra2 - ra1) * deg;
  const double a = std::cos(d2) * std::sin(dra);
  const double b = std::cos(d1) * std::sin(d2) - std::sin(d1) * std::cos(d2) * std::cos(dra);
  const double c = std::sin(d1) * std::sin(d2) + std::cos(d1) * std::cos(d2) * std::cos(dra);
  return std::atan2(std::hypot(a, b), c) / deg * 3600.0;
}

struct sky_index::best {
  double chord2 = std::numeric_limits<double>::infinity();  // exact, from the double position
  double reach = std::numeric_limits<double>::infinity();   // sqrt(chord2) + float_slack
  std::int64_t row = -1;
};

sky_index::sky_index(const double* ra, const double* dec, std::int64_t n) : ra_(ra), dec_(dec) {
  if (n > static_cast<std::int64_t>(std::numeric_limits<std::uint32_t>::max()))
    throw error(fmt::format("sky index: {} rows are more than it holds (2^32 - 1)", n));
  std::vector<float> xyz;
  xyz.reserve(static_cast<std::size_t>(n) * 3);
  for (std::int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(ra[i]) || !std::isfinite(dec[i])) continue;
    double v[3];
    unit_vector(ra[i], dec[i], v);
    row_.push_back(static_cast<std::uint32_t>(i));
    for (int k = 0; k < 3; ++k) xyz.push_back(static_cast<float>(v[k]));
  }
  // An implicit balanced tree: the median of [lo, hi) along axis depth % 3 sits at the middle.
  std::vector<std::uint32_t> order(row_.size());
  std::iota(order.begin(), order.end(), 0u);
  struct range {
    std::size_t lo, hi;
    int depth;
  };
  std::vector<range> todo{{0, order.size(), 0}};
  while (!todo.empty()) {
    const auto r = todo.back();
    todo.pop_back();
    if (r.hi - r.lo <= leaf_rows) continue;
    const std::size_t mid = r.lo + (r.hi - r.lo) / 2;
    const int ax = r.depth % 3;
    std::nth_element(order.begin() + r.lo, order.begin() + mid, order.begin() + r.hi,
                     [&](std::uint32_t a, std::uint32_t b) {
                       return xyz[std::size_t{a} * 3 + ax] < xyz[std::size_t{b} * 3 + ax];
                     });
    todo.push_back({r.lo, mid, r.depth + 1});
    todo.push_back({mid + 1, r.hi, r.depth + 1});
  }
  xyz_.resize(xyz.size());
  std::vector<std::uint32_t> rows(row_.size());
  for (std::size_t i = 0; i < order.size(); ++i) {
    std::copy_n(&xyz[std::size_t{order[i]} * 3], 3, &xyz_[i * 3]);
    rows[i] = row_[order[i]];
  }
  row_ = std::move(rows);
}

void sky_index::consider(std::size_t i, const float q[3], const double qd[3], best& b) const {
  const float* p = &xyz_[i * 3];
  const float dx = q[0] - p[0], dy = q[1] - p[1], dz = q[2] - p[2];
  const double approx = std::sqrt(double{dx * dx + dy * dy + dz * dz});
  if (approx > b.reach) return;
  const std::int64_t row = row_[i];
  double v[3];
  unit_vector(ra_[row], dec_[row], v);
  const double c2 = (qd[0] - v[0]) * (qd[0] - v[0]) + (qd[1] - v[1]) * (qd[1] - v[1]) +
                    (qd[2] - v[2]) * (qd[2] - v[2]);
  if (c2 < b.chord2 || (c2 == b.chord2 && row < b.row)) {
    b.chord2 = c2;
    b.reach = std::sqrt(c2) + float_slack;
    b.row = row;
  }
}

void sky_index::search(std::size_t lo, std::size_t hi, int depth, const float q[3],
                       const double qd[3], best& b) const {
  if (hi - lo <= leaf_rows) {
    for (std::size_t i = lo; i < hi; ++i) consider(i, q, qd, b);
    return;
  }
  const std::size_t mid = lo + (hi - lo) / 2;
  consider(mid, q, qd, b);
  const int ax = depth % 3;
  const double diff = double{q[ax]} - double{xyz_[mid * 3 + ax]};
  if (diff < 0) {
    search(lo, mid, depth + 1, q, qd, b);
    if (-diff <= b.reach) search(mid + 1, hi, depth + 1, q, qd, b);
  } else {
    search(mid + 1, hi, depth + 1, q, qd, b);
    if (diff <= b.reach) search(lo, mid, depth + 1, q, qd, b);
  }
}

sky_index::hit sky_index::nearest(double ra_deg, double dec_deg) const {
  hit h;
  if (row_.empty()) return h;
  double qd[3];
  unit_vector(ra_deg, dec_deg, qd);
  const float q[3] = {static_cast<float>(qd[0]), static_cast<float>(qd[1]),
                      static_cast<float>(qd[2])};
  best b;
  search(0, row_.size(), 0, q, qd, b);
  h.row = b.row;
  h.separation_arcsec = separation_arcsec(ra_deg, dec_deg, ra_[b.row], dec_[b.row]);
  return h;
}

}  // namespace skyssl::serve
