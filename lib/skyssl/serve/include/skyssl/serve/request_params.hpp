#pragma once
// Strict parsing of the text a client sends: the whole text must be the number (no "12abc",
// no NaN), positions in range, and errors are http_error 400 naming the parameter and the text.
#include <cstdint>
#include <limits>
#include <string>

namespace skyssl::serve {

std::int64_t parse_int(const std::string& text, const std::string& what);
// A finite number.
double parse_real(const std::string& text, const std::string& what);
// An integer in [lo, hi]: the error names the bounds.
std::int64_t parse_bounded_int(const std::string& text, const std::string& what, std::int64_t lo,
                               std::int64_t hi);

// Right ascension in degrees [0, 360): decimal degrees ("160.27"), or hours as
// "10:41:05.1", "10 41 05.1" or "10h41m05.1s".
double parse_ra(const std::string& text);
// Declination in degrees [-90, 90]: decimal degrees, or "+12:00:30", "-05 30 00",
// "12d00m30s".
double parse_dec(const std::string& text);

// A range filter "lo:hi", ":hi" or "lo:" (both ends included).
struct value_range {
  double lo = -std::numeric_limits<double>::infinity();
  double hi = std::numeric_limits<double>::infinity();
  bool contains(double v) const { return v >= lo && v <= hi; }
};
value_range parse_range(const std::string& text, const std::string& field);

}  // namespace skyssl::serve
