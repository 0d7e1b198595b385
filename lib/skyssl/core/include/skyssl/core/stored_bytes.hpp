#pragma once
// What a file really holds, for bounding what its header may make us allocate. A sparse file
// (`truncate -s 1T`) has a huge apparent size in a few blocks on disk: a reader that sizes its
// limits by the apparent size would let a few kilobytes declare terabytes.
#include <cstdint>
#include <filesystem>

namespace skyssl {

// The bytes `path` occupies on disk (holes not counted), at most its apparent size. The apparent
// size where the file system reports no blocks (small files kept inline on some file systems).
// Throws skyssl::error naming the file when it cannot be examined.
std::uint64_t stored_bytes(const std::filesystem::path& path);

}  // namespace skyssl
