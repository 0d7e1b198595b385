// advise_huge_pages: accepted for a range holding whole 2 MiB pages where the kernel offers
// THP, refused for a range too small to hold one.
#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>

#include "skyssl/core/huge_pages.hpp"

namespace {
// "[always]" or "[madvise]" in the kernel's THP switch: madvise(MADV_HUGEPAGE) is honoured.
bool thp_offered() {
  std::ifstream f("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string s;
  std::getline(f, s);
  return s.find("[always]") != std::string::npos || s.find("[madvise]") != std::string::npos;
}
}  // namespace

TEST_CASE("huge pages are requested for whole 2 MiB pages only") {
  constexpr std::size_t mib = std::size_t(1) << 20;
  std::unique_ptr<char, decltype(&std::free)> big(
      static_cast<char*>(std::aligned_alloc(2 * mib, 8 * mib)), &std::free);
  REQUIRE(big);
  CHECK(skyssl::advise_huge_pages(big.get(), 8 * mib) == thp_offered());
  // 3 MiB starting 1 MiB into a 2 MiB page holds exactly one whole page.
  CHECK(skyssl::advise_huge_pages(big.get() + mib, 3 * mib) == thp_offered());
  CHECK_FALSE(skyssl::advise_huge_pages(big.get() + mib, 2 * mib));  // straddles, none whole
  CHECK_FALSE(skyssl::advise_huge_pages(big.get(), 4096));
}
