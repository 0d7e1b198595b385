// keep_freed_memory: a freed 20 MiB block is reused by the next allocation instead of coming
// back from the kernel as fresh pages (which fault on first touch). Measured by
// allocator_probe in two fresh processes, without and with the call, so the difference is the
// call's, with transparent huge pages off (under THP a 20 MiB block costs ~10 faults either way,
// which let the old single-process check pass without the call).
// Cannot work under ASan (it replaces malloc): scripts/sanitize.sh leaves this test out.
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "skyssl/core/allocator.hpp"

#include "tests/support/run_command.hpp"
#include "tests/support/test_paths.hpp"

namespace {

// The probe's second-touch fault count; the test fails if the probe does.
long second_touch_faults(const std::string& mode) {
  const auto r = skyssl::test::run_command(skyssl::test::program("allocator_probe") + " " + mode);
  INFO("allocator_probe ", mode, ": ", r.output);
  REQUIRE(WIFEXITED(r.status));
  REQUIRE(WEXITSTATUS(r.status) == 0);
  return std::stol(r.output);
}

}  // namespace

TEST_CASE("after keep_freed_memory a freed 20 MiB block comes back without page faults") {
  if (std::getenv("GLIBC_TUNABLES")) {
    // The user's malloc tunables win by design; the call must say it did nothing.
    MESSAGE("GLIBC_TUNABLES is set: keep_freed_memory defers to it");
    CHECK_FALSE(skyssl::keep_freed_memory());
    return;
  }
  const long without = second_touch_faults("default");
  const long with = second_touch_faults("keep");
  // glibc's defaults give the block back to the kernel: nearly every page faults again.
  CHECK(without > 4000);
  // With the call the same memory is reused.
  CHECK(with < 100);
}
