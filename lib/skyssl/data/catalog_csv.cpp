#include "skyssl/data/catalog_csv.hpp"

#include <csv.h>
#include <fmt/format.h>

#include <charconv>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "skyssl/core/error.hpp"

namespace skyssl::data {
namespace {

struct row_builder {
  catalog* c;
  std::vector<std::string> cells;
  std::int64_t line = 0;  // the line being fed to libcsv
  std::string error;      // the first error met inside a callback (libcsv callbacks are C)
};

void on_cell(void* s, std::size_t len, void* data) {
  auto* b = static_cast<row_builder*>(data);
  b->cells.emplace_back(s ? static_cast<const char*>(s) : "", s ? len : 0);
}

void on_row(int, void* data) {
  auto* b = static_cast<row_builder*>(data);
  auto cells = std::move(b->cells);
  b->cells.clear();
  if (!b->error.empty()) return;
  if (cells.empty() || (cells.size() == 1 && cells[0].empty())) return;
  if (!cells[0].empty() && cells[0][0] == '#') return;  // a comment line
  auto& c = *b->c;
  if (c.columns.empty()) {
    c.columns = std::move(cells);
    return;
  }
  if (cells.size() != c.columns.size()) {
    b->error = fmt::format("catalogue '{}' line {}: {} values, but the header has {} columns",
                           c.source, b->line, cells.size(), c.columns.size());
    return;
  }
  c.rows.push_back(std::move(cells));
  c.lines.push_back(b->line);
}

enum class number { none, integer, real, out_of_range };

number parse_value(const std::string& s, std::int64_t& i, double& d) {
  if (s.empty()) return number::none;
  const char* b = s.data() + (s[0] == '+' ? 1 : 0);
  const char* e = s.data() + s.size();
  const auto r = std::from_chars(b, e, i);
  if (r.ptr == e && r.ec == std::errc()) {
    d = static_cast<double>(i);
    return number::integer;
  }
  if (r.ptr == e && r.ec == std::errc::result_out_of_range) return number::out_of_range;
  char* end = nullptr;
  d = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size() ? number::real : number::none;
}

}  // namespace

catalog parse_catalog_csv(const std::string& text, const std::string& source) {
  catalog c;
  c.source = source;
  csv_parser p;
  if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) != 0)
    throw data_error(fmt::format("catalogue '{}': libcsv cannot start", source));
  row_builder b{&c, {}, 0, {}};
  // Fed one line at a time, so that a row's callback knows the line it ends on.
  std::size_t pos = 0;
  while (pos < text.size() && b.error.empty()) {
    const auto nl = text.find('\n', pos);
    const std::size_t end = nl == std::string::npos ? text.size() : nl + 1;
    ++b.line;
    if (csv_parse(&p, text.data() + pos, end - pos, on_cell, on_row, &b) != end - pos) {
      const std::string why = csv_strerror(csv_error(&p));
      csv_free(&p);
      throw data_error(
          fmt::format("catalogue '{}' line {}: {} (an unbalanced quote?)", source, b.line, why));
    }
    pos = end;
  }
  if (b.error.empty() && csv_fini(&p, on_cell, on_row, &b) != 0) {
    csv_free(&p);
    throw data_error(
        fmt::format("catalogue '{}' line {}: a quoted value is not closed", source, b.line));
  }
  csv_free(&p);
  if (!b.error.empty()) throw data_error(b.error);
  if (c.columns.empty()) throw data_error(fmt::format("catalogue '{}' has no header line", source));
  if (c.rows.empty()) throw data_error(fmt::format("catalogue '{}' has no rows", source));
  return c;
}

catalog read_catalog_csv(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw archive_error(fmt::format("catalogue '{}' cannot be read", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_catalog_csv(ss.str(), path);
}

catalog_column type_column(const catalog& c, std::size_t col, bool is_id) {
  catalog_column out;
  const auto& name = c.columns.at(col);
  bool any_text = false;
  for (std::size_t r = 0; r < c.rows.size(); ++r) {
    const auto& v = c.rows[r][col];
    std::int64_t i = 0;
    double d = 0;
    const auto where = fmt::format("catalogue '{}' data row {} (line {}): column '{}' value '{}'",
                                   c.source, r + 1, c.lines[r], name, v);
    switch (parse_value(v, i, d)) {
      case number::integer:
        out.ints.push_back(i);
        out.reals.push_back(d);
        break;
      case number::out_of_range:
        throw data_error(where + " is an integer outside the 64-bit range");
      case number::real:
        if (is_id)
          throw data_error(where +
                           " is not an integer; ids must be exact 64-bit integers or "
                           "names");
        if (out.type == catalog_column::integer) out.type = catalog_column::real;
        out.reals.push_back(d);
        break;
      case number::none:
        if (!is_id) throw data_error(where + " is not a number");
        any_text = true;
        break;
    }
  }
  if (any_text) return {catalog_column::text, {}, {}};
  if (out.type != catalog_column::integer) out.ints.clear();
  return out;
}

}  // namespace skyssl::data
