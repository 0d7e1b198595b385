#include "skyssl/train/durable_file.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "skyssl/core/error.hpp"

namespace skyssl::train {
namespace {

std::string reason(int err) { return std::strerror(err); }

std::uint32_t crc_update(std::uint32_t crc, const void* data, std::size_t bytes) {
  const auto* p = static_cast<const Bytef*>(data);
  // zlib takes 32-bit lengths.
  while (bytes > 0) {
    const auto n = static_cast<uInt>(std::min<std::size_t>(bytes, 1u << 30));
    crc = static_cast<std::uint32_t>(::crc32(crc, p, n));
    p += n;
    bytes -= n;
  }
  return crc;
}

// Test hook: SKYSSL_TEST_WRITE_FAIL=enospc makes every write fail as on a full disk, for
// machines where the disk-full test cannot mount a small tmpfs.
bool injected_enospc() {
  const char* v = std::getenv("SKYSSL_TEST_WRITE_FAIL");
  return v && std::strcmp(v, "enospc") == 0;
}

}  // namespace

durable_file::durable_file(const std::filesystem::path& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd_ < 0)
    throw checkpoint_error(fmt::format("cannot create '{}': {}", path.string(), reason(errno)));
}

durable_file::~durable_file() {
  if (fd_ >= 0) ::close(fd_);
}

void durable_file::write(const void* data, std::size_t bytes) {
  crc_ = crc_update(crc_, data, bytes);
  const auto* p = static_cast<const char*>(data);
  std::size_t left = bytes;
  while (left > 0) {
    const ssize_t n = injected_enospc() ? (errno = ENOSPC, -1) : ::write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw checkpoint_error(fmt::format("cannot write '{}': {} (after {} bytes)", path_.string(),
                                         reason(errno), bytes_ + (bytes - left)));
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  bytes_ += bytes;
}

void durable_file::finish() {
  // Some filesystems report a full disk only at fsync or close.
  if (::fsync(fd_) != 0)
    throw checkpoint_error(fmt::format("cannot sync '{}': {}", path_.string(), reason(errno)));
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0)
    throw checkpoint_error(fmt::format("cannot close '{}': {}", path_.string(), reason(errno)));
}

std::uint32_t write_durable(const std::filesystem::path& path, const std::string& text) {
  durable_file f(path);
  f.write(text.data(), text.size());
  f.finish();
  return f.crc32();
}

void replace_file(const std::filesystem::path& path, const std::string& bytes) {
  const auto tmp = path.parent_path() / ("." + path.filename().string() + ".tmp");
  std::error_code ec;
  std::filesystem::remove(tmp, ec);
  try {
    write_durable(tmp, bytes);
    std::filesystem::rename(tmp, path);
  } catch (const std::filesystem::filesystem_error& e) {
    std::filesystem::remove(tmp, ec);
    throw checkpoint_error(fmt::format("cannot replace '{}': {}", path.string(), e.what()));
  } catch (...) {
    std::filesystem::remove(tmp, ec);
    throw;
  }
  fsync_directory(path.parent_path().empty() ? std::filesystem::path(".") : path.parent_path());
}

void fsync_directory(const std::filesystem::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    throw checkpoint_error(
        fmt::format("cannot open directory '{}': {}", dir.string(), reason(errno)));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0)
    throw checkpoint_error(
        fmt::format("cannot sync directory '{}': {}", dir.string(), reason(err)));
}

file_digest digest_file(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    throw checkpoint_error(fmt::format("cannot open '{}': {}", path.string(), reason(errno)));
  file_digest d;
  std::vector<char> buf(1 << 20);
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      throw checkpoint_error(fmt::format("cannot read '{}': {}", path.string(), reason(err)));
    }
    if (n == 0) break;
    d.crc32 = crc_update(d.crc32, buf.data(), static_cast<std::size_t>(n));
    d.bytes += static_cast<std::uint64_t>(n);
  }
  ::close(fd);
  return d;
}

}  // namespace skyssl::train
