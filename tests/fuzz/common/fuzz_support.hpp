#pragma once
// Shared by the harnesses: a scratch directory per fuzzing process (the readers under test take
// paths), and the rule for exceptions. skyssl::error is the parsers' documented answer to a bad
// file and ends an input quietly; anything else escaping (std::bad_alloc from a size taken on
// trust, a JSON type error, std::length_error) is a finding: the harness aborts so libFuzzer
// saves the input. SKYSSL_FUZZ_LENIENT=1 lets other std::exceptions pass too, for runs that look
// only for memory errors, hangs and leaks.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>

#include "skyssl/core/error.hpp"

namespace skyssl::fuzz {

inline const std::filesystem::path& scratch() {
  static const std::filesystem::path dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    auto d = std::filesystem::path(tmp && *tmp ? tmp : "/tmp") /
             ("skyssl-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

inline void write_file(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary | std::ios::trunc)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Runs `body`; skyssl::error is an expected outcome, any other exception a finding.
template <class F>
void expect_only_skyssl_errors(F&& body) {
  try {
    body();
  } catch (const skyssl::error&) {
  } catch (const std::exception& e) {
    static const bool lenient = std::getenv("SKYSSL_FUZZ_LENIENT") != nullptr;
    if (lenient) return;
    std::fprintf(stderr, "finding: a non-skyssl exception escaped: %s\n", e.what());
    std::abort();
  }
}

}  // namespace skyssl::fuzz
