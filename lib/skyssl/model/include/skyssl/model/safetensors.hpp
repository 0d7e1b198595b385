#pragma once
// Named tensors in the safetensors layout (huggingface/safetensors): an 8-byte little-endian
// header length, a JSON header {name: {dtype, shape, data_offsets}, "__metadata__": {..}}, then
// the raw little-endian bytes. Chosen for checkpoints and exported weights because anyone can
// read it (numpy, PyTorch, a 20-line parser) and it holds no code, unlike a pickle.
#include <torch/types.h>

#include <cstddef>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace skyssl::model {

using named_tensors = std::vector<std::pair<std::string, torch::Tensor>>;
using tensor_map = std::map<std::string, torch::Tensor>;
using string_map = std::map<std::string, std::string>;
// Receives the file's bytes in order (a file writer, a checksum, a memory buffer).
using byte_sink = std::function<void(const void* data, std::size_t bytes)>;

// Writes `tensors` (CPU or not; copied to contiguous host memory one at a time) with string
// metadata. Names must be unique. Returns the bytes written.
std::size_t write_safetensors(const named_tensors& tensors, const string_map& metadata,
                              const byte_sink& out);

// Reads a whole file; throws skyssl::error naming the file for a truncated or malformed one.
tensor_map read_safetensors(const std::filesystem::path& path, string_map* metadata = nullptr);
// The same from bytes in memory; `source` names them in errors.
tensor_map parse_safetensors(const std::string& bytes, const std::string& source,
                             string_map* metadata = nullptr);

}  // namespace skyssl::model
