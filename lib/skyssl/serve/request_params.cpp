#include "skyssl/serve/request_params.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <vector>

#include "skyssl/serve/http_error.hpp"

namespace skyssl::serve {
namespace {

// Quoted for the message, and cut short: a client's text is not echoed at any length.
std::string quoted(const std::string& text) {
  std::string t = text.size() > 40 ? text.substr(0, 40) + "..." : text;
  for (auto& c : t)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) c = '?';
  return "'" + t + "'";
}

bool whole_real(const std::string& text, double& v) {
  if (text.empty()) return false;
  const char* b = text.data() + (text[0] == '+' ? 1 : 0);
  const char* e = text.data() + text.size();
  const auto r = std::from_chars(b, e, v);
  return r.ec == std::errc() && r.ptr == e && std::isfinite(v);
}

// "a:b:c", "a b c" or "a<u1>b<u2>c<u3>" (u = h/d, m, s) -> sign and up to three numbers.
bool sexagesimal(std::string text, const char* units, bool& negative, double& value) {
  negative = !text.empty() && text[0] == '-';
  if (!text.empty() && (text[0] == '-' || text[0] == '+')) text.erase(0, 1);
  for (auto& c : text)
    if (c == ':' || c == units[0] || c == units[1] || c == units[2] ||
        c == static_cast<char>(std::toupper(units[0])))
      c = ' ';
  std::vector<std::string> parts;
  std::string cur;
  for (const char c : text) {
    if (c == ' ') {
      if (!cur.empty()) parts.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) parts.push_back(cur);
  if (parts.empty() || parts.size() > 3) return false;
  value = 0;
  double scale = 1;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    double v = 0;
    if (!whole_real(parts[i], v) || v < 0 || parts[i][0] == '+') return false;
    // Minutes and seconds below 60; only the last part may have a fraction.
    if (i > 0 && v >= 60) return false;
    if (i + 1 < parts.size() && v != std::floor(v)) return false;
    value += v / scale;
    scale *= 60;
  }
  return true;
}

bool is_sexagesimal(const std::string& text) {
  return text.find_first_of(":hdms ") != std::string::npos;
}

}  // namespace

std::int64_t parse_int(const std::string& text, const std::string& what) {
  std::int64_t v = 0;
  const char* b = text.data() + (!text.empty() && text[0] == '+' ? 1 : 0);
  const char* e = text.data() + text.size();
  const auto r = std::from_chars(b, e, v);
  if (text.empty() || r.ec != std::errc() || r.ptr != e)
    throw bad_request(fmt::format("{}: {} is not an integer", what, quoted(text)));
  return v;
}

double parse_real(const std::string& text, const std::string& what) {
  double v = 0;
  if (!whole_real(text, v))
    throw bad_request(fmt::format("{}: {} is not a finite number", what, quoted(text)));
  return v;
}

std::int64_t parse_bounded_int(const std::string& text, const std::string& what, std::int64_t lo,
                               std::int64_t hi) {
  const auto v = parse_int(text, what);
  if (v < lo || v > hi)
    throw bad_request(fmt::format("{}: {} is outside [{}, {}]", what, v, lo, hi));
  return v;
}

double parse_ra(const std::string& text) {
  double deg = 0;
  if (is_sexagesimal(text)) {
    bool negative = false;
    double hours = 0;
    if (!sexagesimal(text, "hms", negative, hours) || negative)
      throw bad_request(fmt::format(
          "ra: {} is neither degrees nor hours as hh:mm:ss.s (e.g. 10:41:05.1)", quoted(text)));
    deg = hours * 15;
  } else {
    deg = parse_real(text, "ra");
  }
  if (deg < 0 || deg >= 360)
    throw bad_request(fmt::format("ra: {} is outside [0, 360) degrees", quoted(text)));
  return deg;
}

double parse_dec(const std::string& text) {
  double deg = 0;
  if (is_sexagesimal(text)) {
    bool negative = false;
    if (!sexagesimal(text, "dms", negative, deg))
      throw bad_request(
          fmt::format("dec: {} is neither degrees nor dd:mm:ss.s (e.g. +12:00:30)", quoted(text)));
    if (negative) deg = -deg;
  } else {
    deg = parse_real(text, "dec");
  }
  if (deg < -90 || deg > 90)
    throw bad_request(fmt::format("dec: {} is outside [-90, 90] degrees", quoted(text)));
  return deg;
}

value_range parse_range(const std::string& text, const std::string& field) {
  const auto colon = text.find(':');
  if (colon == std::string::npos || text.find(':', colon + 1) != std::string::npos ||
      text.size() == 1)
    throw bad_request(fmt::format("{}: {} is not a range lo:hi, :hi or lo: (e.g. {}=0.1:0.3)",
                                  field, quoted(text), field));
  value_range r;
  if (colon > 0) r.lo = parse_real(text.substr(0, colon), field + " (low end)");
  if (colon + 1 < text.size()) r.hi = parse_real(text.substr(colon + 1), field + " (high end)");
  if (r.lo > r.hi)
    throw bad_request(fmt::format("{}: {} is empty (low end above high end)", field, quoted(text)));
  return r;
}

}  // namespace skyssl::serve
