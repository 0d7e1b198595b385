#include "skyssl/core/stored_bytes.hpp"

#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "skyssl/core/error.hpp"

namespace skyssl {

std::uint64_t stored_bytes(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    throw error(fmt::format("cannot examine '{}': {}", path.string(), std::strerror(errno)));
  const auto apparent = static_cast<std::uint64_t>(st.st_size);
  if (st.st_blocks <= 0) return apparent;
  // st_blocks counts 512-byte units whatever the file system's block size (POSIX).
  return std::min(apparent, static_cast<std::uint64_t>(st.st_blocks) * 512);
}

}  // namespace skyssl
