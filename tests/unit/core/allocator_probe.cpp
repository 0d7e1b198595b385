// Helper of test_allocator: in a fresh process (glibc's allocator state is process-wide and a
// test program's own allocations move its thresholds), touches a 20 MiB block twice, with or
// without keep_freed_memory() first, and prints the second touch's page faults. Transparent
// huge pages are switched off, else a 20 MiB block costs ~10 faults either way.
//   allocator_probe keep|default
#include <sys/prctl.h>
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

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
  if (!p) return -1;
  std::memset(p, 1, n);
  // Keep the compiler from proving the block dead and dropping malloc, memset and free.
  __asm__ volatile("" : : "g"(p) : "memory");
  const long faults = minor_faults() - f0;
  std::free(p);
  return faults;
}

}  // namespace

int main(int argc, char** argv) {
  const bool keep = argc > 1 && std::string(argv[1]) == "keep";
  if (prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) != 0) {
    std::perror("allocator_probe: prctl(PR_SET_THP_DISABLE)");
    return 2;
  }
  if (keep && !skyssl::keep_freed_memory()) {
    std::fprintf(stderr, "allocator_probe: keep_freed_memory() refused\n");
    return 3;
  }
  constexpr std::size_t block = std::size_t(20) << 20;  // 5,120 pages of 4 KiB
  touch_block(block);                                   // the heap (or an mmap) grows once
  std::printf("%ld\n", touch_block(block));
  return 0;
}
