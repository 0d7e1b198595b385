#pragma once
// The catalogue CSV of skyssl-prep from-fits, parsed by Debian's libcsv (RFC 4180: quoted
// values, embedded commas, quotes and newlines), then typed column by column: a column whose
// every value is an integer is read as exact int64 (64-bit object ids such as SDSS objIDs,
// ~1.2e18, are kept to the last digit, never rounded through a double), any other numeric
// column as double. Errors are data_error naming the file, the data row and its line.
#include <cstdint>
#include <string>
#include <vector>

namespace skyssl::data {

struct catalog {
  std::string source;                          // the file, for messages
  std::vector<std::string> columns;            // the header line
  std::vector<std::vector<std::string>> rows;  // one per data row, as many cells as columns
  std::vector<std::int64_t> lines;             // the line each row ends on
};

// Blank lines and lines whose first cell starts with '#' are skipped; unquoted values are
// trimmed of spaces and tabs. A malformed quote, a row with the wrong number of values, no
// header or no rows is an error naming the line.
catalog parse_catalog_csv(const std::string& text, const std::string& source);
catalog read_catalog_csv(const std::string& path);

struct catalog_column {
  enum kind { integer, real, text } type = integer;
  std::vector<std::int64_t> ints;  // type == integer
  std::vector<double> reals;       // type == integer (the same values) or real
};

// Types column `col`. An integer outside int64 is an error. Non-numeric values are an error,
// except in the id column (`is_id`), whose values then stay names (type text); an id that is
// a number but not an exact integer ("nan", "inf", "1.5", "1e18") is an error naming its row.
catalog_column type_column(const catalog& c, std::size_t col, bool is_id);

}  // namespace skyssl::data
