#include "skyssl/serve/field_table.hpp"

#include <fmt/format.h>
#include <torch/types.h>

#include <cmath>

#include "skyssl/core/error.hpp"
#include "skyssl/serve/request_params.hpp"

namespace skyssl::serve {

field_table::field_table(const embed::embedding_reader& e) : rows_(e.rows()), names_(e.fields()) {
  ints_.resize(names_.size());
  reals_.resize(names_.size());
  integer_.resize(names_.size());
  for (std::size_t i = 0; i < names_.size(); ++i) {
    const auto col = e.column(names_[i]).contiguous();
    integer_[i] = col.scalar_type() == torch::kInt64;
    if (integer_[i]) {
      const auto* p = col.data_ptr<std::int64_t>();
      ints_[i].assign(p, p + col.numel());
    } else {
      const auto d = col.to(torch::kFloat64).contiguous();
      const auto* p = d.data_ptr<double>();
      reals_[i].assign(p, p + d.numel());
    }
  }
}

int field_table::find_field(const std::string& name) const {
  for (std::size_t i = 0; i < names_.size(); ++i)
    if (names_[i] == name) return static_cast<int>(i);
  return -1;
}

nlohmann::json field_table::json(int field, std::int64_t row) const {
  if (integer_[field]) return ints_[field][row];
  const double v = reals_[field][row];
  if (std::isfinite(v)) return v;
  return fmt::format("{}", v);
}

std::string field_table::text(int field, std::int64_t row) const {
  if (integer_[field]) return std::to_string(ints_[field][row]);
  return fmt::format("{}", reals_[field][row]);
}

double field_table::number(int field, std::int64_t row) const {
  if (integer_[field]) return static_cast<double>(ints_[field][row]);
  return reals_[field][row];
}

const double* field_table::doubles(int field) const {
  return integer_[field] ? nullptr : reals_[field].data();
}

std::vector<std::int64_t> field_table::rows_equal(int field, const std::string& value) const {
  std::vector<std::int64_t> hits;
  if (integer_[field]) {
    const auto v = parse_int(value, "id " + names_[field]);
    for (std::size_t r = 0; r < ints_[field].size(); ++r)
      if (ints_[field][r] == v) hits.push_back(static_cast<std::int64_t>(r));
  } else {
    const auto v = parse_real(value, "id " + names_[field]);
    for (std::size_t r = 0; r < reals_[field].size(); ++r)
      if (reals_[field][r] == v) hits.push_back(static_cast<std::int64_t>(r));
  }
  return hits;
}

std::size_t field_table::bytes() const {
  std::size_t b = 0;
  for (std::size_t i = 0; i < names_.size(); ++i)
    b += ints_[i].size() * sizeof(std::int64_t) + reals_[i].size() * sizeof(double);
  return b;
}

}  // namespace skyssl::serve
