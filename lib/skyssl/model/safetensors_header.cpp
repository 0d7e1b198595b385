#include "skyssl/model/safetensors_header.hpp"

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <climits>
#include <cstdint>
#include <set>

#include "skyssl/core/error.hpp"

namespace skyssl::model {

namespace {

// A JSON array of integers, read without nlohmann's get<>, which converts a float element with
// static_cast: undefined behaviour when it is out of range ("data_offsets": [0, 1e300], found
// by fuzz_safetensors). A float, string or other element is refused naming the tensor.
struct int_value {
  bool negative = false;
  std::uint64_t magnitude = 0;  // |value|
};
template <class Bad>
std::vector<int_value> integer_array(const nlohmann::json& j, const std::string& tensor,
                                     const char* key, const Bad& bad) {
  if (!j.is_array())
    throw bad(fmt::format("tensor '{}': {} is not an array ({})", tensor, key, j.type_name()));
  std::vector<int_value> out;
  for (const auto& v : j) {
    if (v.is_number_unsigned()) {
      out.push_back({false, v.get<std::uint64_t>()});
    } else if (v.is_number_integer()) {
      const auto i = v.get<std::int64_t>();
      out.push_back(
          {i < 0, i < 0 ? 0 - static_cast<std::uint64_t>(i) : static_cast<std::uint64_t>(i)});
    } else {
      throw bad(fmt::format("tensor '{}': {} holds {}, not an integer", tensor, key, v.dump()));
    }
  }
  return out;
}

}  // namespace

std::size_t safetensors_element_size(const std::string& dtype) {
  static const std::map<std::string, std::size_t> sizes = {
      {"F64", 8},  {"I64", 8}, {"F32", 4}, {"I32", 4}, {"F16", 2},
      {"BF16", 2}, {"I16", 2}, {"I8", 1},  {"U8", 1},  {"BOOL", 1}};
  const auto it = sizes.find(dtype);
  return it == sizes.end() ? 0 : it->second;
}

std::vector<safetensors_entry> parse_safetensors_header(
    const char* bytes, std::size_t size, const std::string& source,
    std::map<std::string, std::string>* metadata) {
  auto bad = [&](const std::string& why) {
    return error(fmt::format("'{}' is not a valid safetensors file: {}", source, why));
  };
  if (size < 8) throw bad(fmt::format("{} bytes, shorter than its header", size));
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  if (n > size - 8)
    throw bad(fmt::format("header of {} bytes in a file of {} (truncated?)", n, size));
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes + 8, bytes + 8 + n);
  } catch (const nlohmann::json::exception& e) {
    throw bad(fmt::format("header is not JSON ({})", e.what()));
  }
  if (!header.is_object()) throw bad("header is not a JSON object");
  const std::uint64_t data_start = 8 + n, data_size = size - data_start;
  std::vector<safetensors_entry> out;
  for (const auto& [name, entry] : header.items()) {
    try {
      if (name == "__metadata__") {
        if (metadata)
          for (const auto& [k, v] : entry.items()) (*metadata)[k] = v.get<std::string>();
        continue;
      }
      safetensors_entry e;
      e.name = name;
      e.dtype = entry.at("dtype").get<std::string>();
      const std::size_t elem = safetensors_element_size(e.dtype);
      if (elem == 0)
        throw bad(fmt::format("tensor '{}' has unsupported dtype '{}'", name, e.dtype));
      // The byte count in 64 bits with overflow checks, before anything is allocated.
      std::uint64_t count = elem;
      for (const auto d : integer_array(entry.at("shape"), name, "shape", bad)) {
        if (d.negative)
          throw bad(fmt::format("tensor '{}' has a negative dimension (-{})", name, d.magnitude));
        if (d.magnitude > static_cast<std::uint64_t>(INT64_MAX))
          throw bad(
              fmt::format("tensor '{}' has a dimension of {}, beyond int64", name, d.magnitude));
        e.shape.push_back(static_cast<std::int64_t>(d.magnitude));
        if (__builtin_mul_overflow(count, d.magnitude, &count) || count > data_size)
          count = data_size + 1;  // larger than the file: reported below
      }
      std::vector<std::uint64_t> off;
      for (const auto o : integer_array(entry.at("data_offsets"), name, "data_offsets", bad))
        off.push_back(o.negative ? std::uint64_t{UINT64_MAX} : o.magnitude);  // refused below
      if (off.size() != 2 || off[1] < off[0] || off[1] > data_size)
        throw bad(fmt::format("tensor '{}' has data offsets outside the file ({} data bytes)", name,
                              data_size));
      if (off[1] - off[0] != count)
        throw bad(fmt::format("tensor '{}' ({} {}) does not match its {} data bytes", name, e.dtype,
                              nlohmann::json(e.shape).dump(), off[1] - off[0]));
      e.begin = data_start + off[0];
      e.bytes = count;
      out.push_back(std::move(e));
    } catch (const nlohmann::json::exception& ex) {
      throw bad(fmt::format("entry '{}': {}", name, ex.what()));
    }
  }
  return out;
}

}  // namespace skyssl::model
