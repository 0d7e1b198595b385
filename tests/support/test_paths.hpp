#pragma once
// Paths baked in by tests/CMakeLists.txt, and a per-test scratch directory.
#include <filesystem>
#include <string>

namespace skyssl::test {

inline std::filesystem::path tmp_dir(const std::string& name) {
  auto p = std::filesystem::path(SKYSSL_TEST_TMP) / name;
  std::filesystem::create_directories(p);
  return p;
}
inline std::filesystem::path source_dir() { return SKYSSL_SOURCE_DIR; }
inline std::filesystem::path binary_dir() { return SKYSSL_BINARY_DIR; }
inline std::string mpiexec() { return SKYSSL_MPIEXEC; }
inline std::string python() { return SKYSSL_PYTHON; }

}  // namespace skyssl::test
