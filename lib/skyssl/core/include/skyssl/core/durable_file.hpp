#pragma once
// Files that are on disk when we say so: written through a plain descriptor, CRC-32 computed
// on the way, fsync'd before close; directories fsync'd after a rename. Errors name the file
// and the system's reason (a full disk says "No space left on device"). Every tool's outputs
// go through atomic_output (or replace_file, built on it): complete or absent, never half.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace skyssl {

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

// An output that appears complete or not at all. It is written to a unique temporary beside
// `path` (".<name>.<random>.tmp", so two runs never share one), through write() or, for
// libraries that open files by name (HDF5, FAISS, libpng's FILE*), at temp_path(). commit()
// fsyncs and closes it, renames it over `path` and fsyncs the directory: an existing `path` is
// never truncated before the new one is complete. Destroyed without commit() (an error, a stop
// signal) it removes the temporary and `path` is left as it was.
class atomic_output {
 public:
  explicit atomic_output(const std::filesystem::path& path);
  ~atomic_output();
  atomic_output(const atomic_output&) = delete;
  atomic_output& operator=(const atomic_output&) = delete;

  const std::filesystem::path& path() const { return path_; }
  const std::filesystem::path& temp_path() const { return temp_; }
  void write(const void* data, std::size_t bytes);
  void write(const std::string& text) { write(text.data(), text.size()); }
  // Checked fsync, close, rename, directory fsync; throws (and removes the temporary) on
  // failure.
  void commit();

 private:
  std::filesystem::path path_, temp_;
  std::string temp_text_;  // what a stop signal's handler unlinks (stop_signals.hpp)
  int fd_ = -1;
  int slot_ = -1;
  std::uint64_t bytes_ = 0;
  bool committed_ = false;
};

// Throws config_error naming `flag` when `out` is the same file as one of `inputs` (an output
// over an input would destroy what it is made from). Inputs that do not exist are skipped.
void refuse_output_over_input(const std::filesystem::path& out,
                              const std::vector<std::filesystem::path>& inputs,
                              const std::string& flag);

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

}  // namespace skyssl
