#pragma once
// Where a test finds the trees, its tools and a scratch folder: paths the build generated for the
// test programs (the end of tests/CMakeLists.txt), looked up by name.
#include <skyssl/core/baked_path.hpp>

#include <filesystem>
#include <string>
#include <string_view>

namespace skyssl::test {

inline std::filesystem::path tmp_dir(const std::string& name) {
  auto p = std::filesystem::path(baked_path("test_tmp")) / name;
  std::filesystem::create_directories(p);
  return p;
}
inline std::filesystem::path source_dir() { return baked_path("source_dir"); }
inline std::filesystem::path binary_dir() { return baked_path("binary_dir"); }
inline std::string mpiexec() { return baked_path("mpiexec"); }
inline std::string python() { return baked_path("python"); }
// A program of the build that the test's CMakeLists.txt names (skyssl_test_runs, or
// skyssl_tool_test's PROGRAMS): "skyssl-prep", "allocator_probe", ...
inline std::string program(std::string_view target) { return baked_path(target); }

}  // namespace skyssl::test
