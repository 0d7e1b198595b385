#include "skyssl/core/durable_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <fmt/format.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "skyssl/core/error.hpp"
#include "skyssl/core/stop_signals.hpp"

namespace skyssl {
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

// Writes all of `bytes` to `fd`, retrying short writes and EINTR; a failure throws `Error`
// naming `path` and how many bytes of the file (`before` plus this call's) were written.
template <class Error>
void write_all(int fd, const void* data, std::size_t bytes, const std::filesystem::path& path,
               std::size_t before) {
  const auto* p = static_cast<const char*>(data);
  std::size_t left = bytes;
  while (left > 0) {
    const ssize_t n = injected_enospc() ? (errno = ENOSPC, -1) : ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error(fmt::format("cannot write '{}': {} (after {} bytes)", path.string(),
                              reason(errno), before + (bytes - left)));
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
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
  write_all<checkpoint_error>(fd_, data, bytes, path_, bytes_);
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

atomic_output::atomic_output(const std::filesystem::path& path) : path_(path) {
  const auto dir = path.parent_path().empty() ? std::filesystem::path(".") : path.parent_path();
  std::string name = (dir / ("." + path.filename().string() + ".XXXXXX")).string();
  fd_ = ::mkostemp(name.data(), O_CLOEXEC);
  if (fd_ < 0)
    throw error(fmt::format("cannot create a temporary for '{}' in '{}': {}", path.string(),
                            dir.string(), reason(errno)));
  temp_ = name;
  temp_text_ = name;
  slot_ = detail::register_temporary(temp_text_.c_str());
  ::fchmod(fd_, 0644);  // mkostemp makes it 0600; outputs are read by collaborators
}

atomic_output::~atomic_output() {
  detail::release_temporary(slot_);
  if (committed_) return;
  if (fd_ >= 0) ::close(fd_);
  ::unlink(temp_.c_str());
}

void atomic_output::write(const void* data, std::size_t bytes) {
  write_all<error>(fd_, data, bytes, path_, bytes_);
  bytes_ += bytes;
}

void atomic_output::commit() {
  if (committed_) return;
  // A library may have written the temporary by name, through its own descriptor: fsync
  // through ours syncs the same file.
  if (::fsync(fd_) != 0)
    throw error(fmt::format("cannot sync '{}': {}", path_.string(), reason(errno)));
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0)
    throw error(fmt::format("cannot close '{}': {}", path_.string(), reason(errno)));
  detail::release_temporary(slot_);  // from here on it is the output, not a temporary
  slot_ = -1;
  if (::rename(temp_.c_str(), path_.c_str()) != 0)
    throw error(fmt::format("cannot rename '{}' to '{}': {}", temp_.string(), path_.string(),
                            reason(errno)));
  committed_ = true;
  fsync_directory(path_.parent_path().empty() ? std::filesystem::path(".") : path_.parent_path());
}

void refuse_output_over_input(const std::filesystem::path& out,
                              const std::vector<std::filesystem::path>& inputs,
                              const std::string& flag) {
  for (const auto& in : inputs) {
    std::error_code ec;
    if (std::filesystem::equivalent(out, in, ec))
      throw config_error(
          fmt::format("{} '{}' is an input of this command ('{}'); choose another {}", flag,
                      out.string(), in.string(), flag));
  }
}

void replace_file(const std::filesystem::path& path, const std::string& bytes) {
  atomic_output out(path);
  out.write(bytes);
  out.commit();
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

}  // namespace skyssl
