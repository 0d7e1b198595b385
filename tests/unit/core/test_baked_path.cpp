// The paths the build generates for a program (cmake/SkysslBakedPaths.cmake), as the tests see
// them through tests/support/test_paths.hpp.
#include <doctest/doctest.h>

#include <filesystem>
#include <stdexcept>
#include <string>

#include "skyssl/core/baked_path.hpp"
#include "tests/support/test_paths.hpp"

TEST_CASE("baked paths name the trees this build came from") {
  CHECK(std::filesystem::exists(skyssl::test::source_dir() / "cmake" / "SkysslBakedPaths.cmake"));
  CHECK(std::filesystem::exists(skyssl::test::binary_dir() / "CMakeCache.txt"));
  CHECK(std::filesystem::is_directory(skyssl::test::tmp_dir("baked_path")));
}

TEST_CASE("a name the program was not given throws, naming it") {
  CHECK_THROWS_WITH_AS(skyssl::baked_path("skyssl-nonexistent"),
                       doctest::Contains("'skyssl-nonexistent'"), std::logic_error);
}
