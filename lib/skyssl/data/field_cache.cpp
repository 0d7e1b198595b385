#include "skyssl/data/field_cache.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "skyssl/core/error.hpp"

namespace skyssl::data {

field_cache::field_cache(const archive& a, std::vector<std::string> datasets)
    : a_(a), names_(std::move(datasets)) {
  columns_.resize(names_.size() * a_.files().size());
  for (auto& c : columns_) c = std::make_unique<column>();
}

const std::vector<float>& field_cache::load(std::size_t field, std::size_t file) const {
  auto& c = *columns_[field * a_.files().size() + file];
  std::call_once(c.loaded, [&] {
    const auto& f = a_.files()[file];
    std::vector<float> v(static_cast<std::size_t>(f.rows));
    // In blocks, so the double staging stays small for files of millions of rows.
    constexpr std::int64_t block = std::int64_t{1} << 18;
    std::vector<double> tmp(static_cast<std::size_t>(std::min(block, f.rows)));
    for (std::int64_t s = 0; s < f.rows; s += block) {
      const std::int64_t n = std::min(block, f.rows - s);
      a_.read_column(names_[field], f.first_row + s, n, tmp.data());
      for (std::int64_t k = 0; k < n; ++k)
        v[static_cast<std::size_t>(s + k)] = static_cast<float>(tmp[static_cast<std::size_t>(k)]);
    }
    c.values = std::move(v);  // an exception above leaves the flag unset: retried next time
  });
  return c.values;
}

void field_cache::read(std::size_t field, const std::int64_t* rows, std::size_t n, float* out,
                       std::size_t stride) const {
  if (field >= names_.size() || names_[field].empty())
    throw data_error(fmt::format("field_cache: field {} is not in the archive", field));
  std::size_t i = 0;
  while (i < n) {
    if (rows[i] < 0 || rows[i] >= a_.size())
      throw archive_error(
          fmt::format("row {} is outside the archive (size {})", rows[i], a_.size()));
    const auto file = static_cast<std::size_t>(a_.file_of(rows[i]));
    const auto& info = a_.files()[file];
    const auto& v = load(field, file);
    const std::int64_t end = info.first_row + info.rows;
    for (; i < n && rows[i] >= info.first_row && rows[i] < end; ++i)
      out[i * stride] = v[static_cast<std::size_t>(rows[i] - info.first_row)];
  }
}

}  // namespace skyssl::data
