#include "skyssl/eval/splits.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "skyssl/core/error.hpp"
#include "skyssl/core/philox.hpp"

namespace skyssl::eval {

split make_split(const std::vector<std::int64_t>& rows, const split_options& o) {
  const auto n = static_cast<std::int64_t>(rows.size());
  std::vector<std::pair<std::uint64_t, std::int64_t>> keyed;
  keyed.reserve(rows.size());
  for (const auto r : rows) {
    const auto d = rng::draw({o.seed, 0, static_cast<std::uint64_t>(r), 0, rng::user + 2}, 0);
    keyed.emplace_back(static_cast<std::uint64_t>(d.v[0]) << 32 | d.v[1], r);
  }
  std::sort(keyed.begin(), keyed.end());
  const std::int64_t n_test = o.test_count > 0
                                  ? o.test_count
                                  : static_cast<std::int64_t>(std::llround(o.test_fraction * n));
  if (n_test < 1 || n_test >= n)
    throw data_error(fmt::format(
        "split: {} labelled rows cannot give {} test rows and a non-empty training set (set "
        "--test-fraction or --test-count)",
        n, n_test));
  split s;
  for (std::int64_t i = 0; i < n; ++i)
    (i < n_test ? s.test : s.train).push_back(keyed[static_cast<std::size_t>(i)].second);
  std::sort(s.test.begin(), s.test.end());
  return s;
}

std::vector<std::int64_t> curve_counts(const std::vector<std::int64_t>& requested,
                                       std::int64_t pool) {
  std::vector<std::int64_t> out;
  for (const auto c : requested)
    if (c > 0 && c < pool) out.push_back(c);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  out.push_back(pool);
  return out;
}

}  // namespace skyssl::eval
