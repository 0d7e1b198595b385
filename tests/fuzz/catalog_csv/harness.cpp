// libFuzzer: the catalogue CSV of skyssl-prep from-fits (data/catalog_csv over libcsv) and the
// typing of its columns (exact int64 ids, names, reals). Checked: no memory error, no exception
// but skyssl::error, rows as wide as the header, typed columns as long as the rows.
#include <cstdint>
#include <string>

#include "skyssl/data/catalog_csv.hpp"
#include "tests/fuzz/common/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  skyssl::fuzz::expect_only_skyssl_errors([&] {
    const auto c = skyssl::data::parse_catalog_csv(text, "fuzz.csv");
    if (c.rows.size() != c.lines.size() || c.rows.empty()) __builtin_trap();
    for (const auto& r : c.rows)
      if (r.size() != c.columns.size()) __builtin_trap();
    for (std::size_t col = 0; col < c.columns.size(); ++col) {
      const auto t = skyssl::data::type_column(c, col, col == 0);
      if (t.type == skyssl::data::catalog_column::integer && t.ints.size() != c.rows.size())
        __builtin_trap();
      if (t.type != skyssl::data::catalog_column::text && t.reals.size() != c.rows.size())
        __builtin_trap();
    }
  });
  return 0;
}
