#pragma once
// The id fields of an embedding file (objid, ra, dec, magnitudes, photo-z, ...) held in memory
// for the service's lifetime: every answer lists them for each neighbour, range filters test
// them, and the sky index looks positions up in ra and dec, none of it touching HDF5 per row.
// Integer fields stay int64 (a 64-bit objid through a double would lose digits), floating
// ones are held as double.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "skyssl/embed/embedding_reader.hpp"

namespace skyssl::serve {

class field_table {
 public:
  explicit field_table(const embed::embedding_reader& e);

  const std::vector<std::string>& names() const { return names_; }
  // Position of a field in names(), -1 when absent.
  int find_field(const std::string& name) const;
  bool is_integer(int field) const { return integer_[field]; }
  std::int64_t rows() const { return rows_; }

  // The value as JSON, as skyssl-search writes it: integers as integers, finite floats as
  // numbers, NaN and infinities as text ("nan", "inf").
  nlohmann::json json(int field, std::int64_t row) const;
  // The same as CSV text.
  std::string text(int field, std::int64_t row) const;
  // The value as a double (for range filters).
  double number(int field, std::int64_t row) const;
  // The whole column of a floating field (ra, dec for the sky index); nullptr for an integer
  // one.
  const double* doubles(int field) const;
  // Rows whose field equals `value` (integer fields: the text must be an integer; floating
  // ones compare as double). config_error naming the field when the text is not a number.
  std::vector<std::int64_t> rows_equal(int field, const std::string& value) const;
  std::size_t bytes() const;

 private:
  std::int64_t rows_ = 0;
  std::vector<std::string> names_;
  std::vector<bool> integer_;
  std::vector<std::vector<std::int64_t>> ints_;  // ints_[i] or reals_[i], as integer_[i]
  std::vector<std::vector<double>> reals_;
};

}  // namespace skyssl::serve
