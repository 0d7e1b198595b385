// Request parameters are numbers only when the whole text is one, positions are in range, and
// every refusal is an http_error 400 naming the parameter.
#include <doctest/doctest.h>

#include <string>

#include "skyssl/serve/http_error.hpp"
#include "skyssl/serve/request_params.hpp"

using namespace skyssl::serve;

namespace {

// The status and message of what `f` throws (0 and "" when it throws nothing).
template <class F>
std::pair<int, std::string> refusal(F f) {
  try {
    f();
  } catch (const http_error& e) {
    return {e.status(), e.what()};
  }
  return {0, ""};
}

}  // namespace

TEST_CASE("parse_int and parse_real take whole numbers only") {
  CHECK(parse_int("17", "row") == 17);
  CHECK(parse_int("+17", "row") == 17);
  CHECK(parse_int("-3", "row") == -3);
  CHECK(parse_real("0.25", "x") == 0.25);
  CHECK(parse_real("-1e-3", "x") == -1e-3);
  for (const char* bad : {"", "12abc", "1.5", " 1", "0x10", "99999999999999999999"}) {
    INFO(bad);
    const auto [status, msg] = refusal([&] { parse_int(bad, "row"); });
    CHECK(status == 400);
    CHECK(msg.find("row: '") == 0);
    CHECK(msg.find("is not an integer") != std::string::npos);
  }
  for (const char* bad : {"", "nan", "inf", "1e400", "1,5", "1.5x"}) {
    INFO(bad);
    CHECK(refusal([&] { parse_real(bad, "x"); }).first == 400);
  }
  CHECK(parse_bounded_int("100", "k", 1, 100) == 100);
  const auto [status, msg] = refusal([] { parse_bounded_int("1000000", "k", 1, 100); });
  CHECK(status == 400);
  CHECK(msg == "k: 1000000 is outside [1, 100]");
  // A client's text is cut short in messages.
  const auto long_text = refusal([] { parse_int(std::string(5000, 'x'), "row"); }).second;
  CHECK(long_text.size() < 120);
}

TEST_CASE("parse_ra and parse_dec: degrees or sexagesimal") {
  CHECK(parse_ra("160.27125") == doctest::Approx(160.27125));
  CHECK(parse_ra("10:41:05.1") == doctest::Approx(160.27125));
  CHECK(parse_ra("10 41 05.1") == doctest::Approx(160.27125));
  CHECK(parse_ra("10h41m05.1s") == doctest::Approx(160.27125));
  CHECK(parse_ra("0") == 0);
  CHECK(parse_dec("-5.5") == -5.5);
  CHECK(parse_dec("-05:30:00") == doctest::Approx(-5.5));
  CHECK(parse_dec("+12:00:36") == doctest::Approx(12.01));
  CHECK(parse_dec("12d00m36s") == doctest::Approx(12.01));
  CHECK(parse_dec("-00:30") == doctest::Approx(-0.5));
  CHECK(parse_dec("90") == 90);
  for (const char* bad : {"360", "-1", "24:00:00", "10:61:00", "10:41:60", "abc", "", "10.5:30",
                          "1:2:3:4", "/etc/passwd"}) {
    INFO(bad);
    const auto [status, msg] = refusal([&] { parse_ra(bad); });
    CHECK(status == 400);
    CHECK(msg.find("ra: ") == 0);
  }
  for (const char* bad : {"90.5", "-91", "+95:00:00", "12:00:xx", "north"}) {
    INFO(bad);
    const auto [status, msg] = refusal([&] { parse_dec(bad); });
    CHECK(status == 400);
    CHECK(msg.find("dec: ") == 0);
  }
}

TEST_CASE("parse_range: lo:hi, :hi, lo:") {
  auto r = parse_range("0.1:0.3", "z_phot");
  CHECK(r.lo == 0.1);
  CHECK(r.hi == 0.3);
  CHECK(r.contains(0.1));
  CHECK(r.contains(0.3));
  CHECK_FALSE(r.contains(0.31));
  r = parse_range(":19", "mag_r");
  CHECK(r.contains(-1e300));
  CHECK_FALSE(r.contains(19.5));
  r = parse_range("18:", "mag_r");
  CHECK(r.contains(1e300));
  CHECK_FALSE(r.contains(17));
  for (const char* bad : {"0.3", ":", "0.3:0.1", "a:b", "1:2:3", "", "nan:1"}) {
    INFO(bad);
    const auto [status, msg] = refusal([&] { parse_range(bad, "z_phot"); });
    CHECK(status == 400);
    CHECK(msg.find("z_phot") == 0);
  }
}
