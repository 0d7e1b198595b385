#include "skyssl/model/safetensors.hpp"

#include <fmt/format.h>
#include <torch/types.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "skyssl/core/error.hpp"
#include "skyssl/model/safetensors_header.hpp"

namespace skyssl::model {
namespace {

static_assert(sizeof(std::uint64_t) == 8, "safetensors: the header length is 8 bytes");

struct dtype_name {
  torch::ScalarType type;
  const char* name;
};
constexpr dtype_name dtype_names[] = {{torch::kFloat32, "F32"}, {torch::kFloat64, "F64"},
                                      {torch::kFloat16, "F16"}, {torch::kBFloat16, "BF16"},
                                      {torch::kInt64, "I64"},   {torch::kInt32, "I32"},
                                      {torch::kInt16, "I16"},   {torch::kInt8, "I8"},
                                      {torch::kUInt8, "U8"},    {torch::kBool, "BOOL"}};

const char* name_of(torch::ScalarType t) {
  for (const auto& d : dtype_names)
    if (d.type == t) return d.name;
  throw error(fmt::format("safetensors: dtype {} cannot be stored", c10::toString(t)));
}

torch::ScalarType type_of(const std::string& name, const std::string& source) {
  for (const auto& d : dtype_names)
    if (name == d.name) return d.type;
  throw error(fmt::format("'{}': unsupported safetensors dtype '{}'", source, name));
}

void put_le64(std::uint64_t v, unsigned char* out) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<unsigned char>(v >> (8 * i));
}

}  // namespace

std::size_t write_safetensors(const named_tensors& tensors, const string_map& metadata,
                              const byte_sink& out) {
  nlohmann::ordered_json header;
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::set<std::string> seen;
  std::uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (!seen.insert(name).second)
      throw error(fmt::format("safetensors: tensor name '{}' used twice", name));
    const auto bytes = static_cast<std::uint64_t>(t.numel()) * t.element_size();
    header[name] = {{"dtype", name_of(t.scalar_type())},
                    {"shape", t.sizes().vec()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  // The format pads the header with spaces so the data starts 8-byte aligned.
  while ((text.size() + 8) % 8 != 0) text.push_back(' ');
  unsigned char len[8];
  put_le64(text.size(), len);
  out(len, 8);
  out(text.data(), text.size());
  for (const auto& [name, t] : tensors) {
    const auto host = t.detach().to(torch::kCPU).contiguous();
    out(host.data_ptr(), static_cast<std::size_t>(host.numel()) * host.element_size());
  }
  return 8 + text.size() + offset;
}

tensor_map parse_safetensors(const std::string& bytes, const std::string& source,
                             string_map* metadata) {
  // Every size below was checked against the file's size by the header parser.
  tensor_map out;
  for (const auto& e : parse_safetensors_header(bytes.data(), bytes.size(), source, metadata)) {
    auto t = torch::empty(e.shape, torch::TensorOptions().dtype(type_of(e.dtype, source)));
    std::memcpy(t.data_ptr(), bytes.data() + e.begin, e.bytes);
    out.emplace(e.name, std::move(t));
  }
  return out;
}

tensor_map read_safetensors(const std::filesystem::path& path, string_map* metadata) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw error(fmt::format("cannot open '{}'", path.string()));
  std::string bytes(static_cast<std::size_t>(in.tellg()), '\0');
  in.seekg(0);
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!in) throw error(fmt::format("cannot read '{}'", path.string()));
  return parse_safetensors(bytes, path.string(), metadata);
}

}  // namespace skyssl::model
