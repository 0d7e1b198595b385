// keep_freed_memory: a freed 20 MiB block is reused by the next allocation instead of coming
// back from the kernel as fresh pages (which fault on first touch).
#include <doctest/doctest.h>
#include <sys/resource.h>

#include <cstdlib>
#include <cstring>

#include "skyssl/core/allocator.hpp"

namespace {
long minor_faults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}
// Allocates, touches and frees n bytes; returns the page faults that took.
long touch_block(std::size_t n) {
  const long f0 = minor_faults();
  auto* p = static_cast<char*>(std::malloc(n));
  REQUIRE(p);
  std::memset(p, 1, n);
  const long faults = minor_faults() - f0;
  std::free(p);
  return faults;
}
}  // namespace

TEST_CASE("after keep_freed_memory a freed 20 MiB block comes back without page faults") {
  if (std::getenv("GLIBC_TUNABLES")) {
    MESSAGE("GLIBC_TUNABLES is set: keep_freed_memory defers to it, nothing to check");
    CHECK_FALSE(skyssl::keep_freed_memory());
    return;
  }
  REQUIRE(skyssl::keep_freed_memory());
  constexpr std::size_t n = std::size_t(20) << 20;  // 5,120 pages of 4 KiB
  touch_block(n);                                   // the heap grows once
  CHECK(touch_block(n) < 100);                      // then the same memory is reused
}
