#pragma once
// The safetensors header, parsed and bounds-checked without LibTorch: every entry's dtype,
// shape and byte range is validated against the file's real size before anything is
// allocated, so a hostile header (2^60 elements, negative dims, offsets past the end) is an
// error naming the file, never an allocation. read_safetensors allocates only what this
// function has checked; the fuzz harness (tests/fuzz/safetensors) drives it directly.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace skyssl::model {

struct safetensors_entry {
  std::string name;
  std::string dtype;                // "F32", "I64", ... (one of the dtypes skyssl stores)
  std::vector<std::int64_t> shape;  // every dim >= 0
  std::uint64_t begin = 0;          // byte offset from the start of the file
  std::uint64_t bytes = 0;          // numel * element size, checked against the file's size
};

// Element size of a safetensors dtype name, 0 for one skyssl does not read.
std::size_t safetensors_element_size(const std::string& dtype);

// Parses the 8-byte length and the JSON header of a file of `size` bytes at `bytes`; `source`
// names the file in errors (skyssl::error "'<source>' is not a valid safetensors file: ...").
// Entries come back in the header's order; string metadata goes to `metadata` when given.
std::vector<safetensors_entry> parse_safetensors_header(
    const char* bytes, std::size_t size, const std::string& source,
    std::map<std::string, std::string>* metadata);

}  // namespace skyssl::model
