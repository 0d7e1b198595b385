#pragma once
// Files that are on disk when we say so: written through a plain descriptor, CRC-32 computed
// on the way, fsync'd before close; directories fsync'd after a rename. Errors name the file
// and the system's reason (a full disk says "No space left on device").
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

namespace skyssl::train {

class durable_file {
 public:
  // Creates `path` (it must not exist).
  explicit durable_file(const std::filesystem::path& path);
  ~durable_file();  // closes without syncing if finish() was not reached (an error path)
  durable_file(const durable_file&) = delete;
  durable_file& operator=(const durable_file&) = delete;

  void write(const void* data, std::size_t bytes);
  // fsync + close; throws on failure.
  void finish();
  std::uint64_t bytes() const { return bytes_; }
  std::uint32_t crc32() const { return crc_; }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  std::uint64_t bytes_ = 0;
  std::uint32_t crc_ = 0;
};

// Writes a small file in one go; returns its CRC-32.
std::uint32_t write_durable(const std::filesystem::path& path, const std::string& text);
// Replaces `path` atomically: the bytes go to a temporary beside it, fsync'd, renamed over it,
// and the directory fsync'd. A failure (a full disk) leaves the old file and no temporary.
void replace_file(const std::filesystem::path& path, const std::string& bytes);
void fsync_directory(const std::filesystem::path& dir);
// CRC-32 (zlib's polynomial) and size of an existing file.
struct file_digest {
  std::uint64_t bytes = 0;
  std::uint32_t crc32 = 0;
};
file_digest digest_file(const std::filesystem::path& path);

}  // namespace skyssl::train
