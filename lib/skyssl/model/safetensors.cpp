#include "skyssl/model/safetensors.hpp"

#include <fmt/format.h>
#include <torch/torch.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "skyssl/core/error.hpp"

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
  auto bad = [&](const std::string& why) {
    return error(fmt::format("'{}' is not a valid safetensors file: {}", source, why));
  };
  if (bytes.size() < 8) throw bad(fmt::format("{} bytes, shorter than its header", bytes.size()));
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  if (n > bytes.size() - 8)
    throw bad(fmt::format("header of {} bytes in a file of {} (truncated?)", n, bytes.size()));
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<long>(n));
  } catch (const nlohmann::json::exception& e) {
    throw bad(fmt::format("header is not JSON ({})", e.what()));
  }
  const std::uint64_t data_start = 8 + n, data_size = bytes.size() - data_start;
  tensor_map out;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (metadata)
        for (const auto& [k, v] : entry.items()) (*metadata)[k] = v.get<std::string>();
      continue;
    }
    try {
      const auto type = type_of(entry.at("dtype").get<std::string>(), source);
      const auto shape = entry.at("shape").get<std::vector<std::int64_t>>();
      const auto off = entry.at("data_offsets").get<std::vector<std::uint64_t>>();
      auto t = torch::empty(shape, torch::TensorOptions().dtype(type));
      const auto want = static_cast<std::uint64_t>(t.numel()) * t.element_size();
      if (off.size() != 2 || off[1] < off[0] || off[1] - off[0] != want || off[1] > data_size)
        throw bad(fmt::format("tensor '{}' has data offsets outside the file or of the wrong size",
                              name));
      std::memcpy(t.data_ptr(), bytes.data() + data_start + off[0], want);
      out.emplace(name, std::move(t));
    } catch (const nlohmann::json::exception& e) {
      throw bad(fmt::format("entry '{}': {}", name, e.what()));
    }
  }
  return out;
}

tensor_map read_safetensors(const std::filesystem::path& path, string_map* metadata) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw error(fmt::format("cannot open '{}'", path.string()));
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw error(fmt::format("cannot read '{}'", path.string()));
  return parse_safetensors(bytes, path.string(), metadata);
}

}  // namespace skyssl::model
