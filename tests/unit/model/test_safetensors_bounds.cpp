// Hostile safetensors headers (issue #19): sizes are checked against the file before any
// allocation, and every error names the file. A header declaring 2^62 elements in a file of a
// few hundred bytes must be refused at once, not allocated.
#include "tests/support/torch_doctest.hpp"

#include <string>
#include <utility>
#include <vector>

#include "skyssl/core/error.hpp"
#include "skyssl/model/safetensors.hpp"
#include "skyssl/model/safetensors_header.hpp"

using namespace skyssl;
using namespace skyssl::model;

namespace {

// A file: 8-byte little-endian length, the JSON header, `data` bytes of payload.
std::string file_with(const std::string& json, std::size_t data) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((json.size() >> (8 * i)) & 0xff);
  return s + json + std::string(data, '\0');
}

std::string error_of(const std::string& bytes) {
  try {
    string_map meta;  // asked for, so that its entries are checked too
    parse_safetensors(bytes, "hostile.safetensors", &meta);
  } catch (const skyssl::error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("safetensors: a valid file round-trips through the checked parser") {
  const auto t = torch::arange(6, torch::kFloat32).reshape({2, 3});
  std::string bytes;
  write_safetensors({{"w", t}}, {{"k", "v"}}, [&](const void* p, std::size_t n) {
    bytes.append(static_cast<const char*>(p), n);
  });
  string_map meta;
  const auto m = parse_safetensors(bytes, "good", &meta);
  CHECK(torch::equal(m.at("w"), t));
  CHECK(meta.at("k") == "v");
}

TEST_CASE("safetensors: huge dims are refused before allocation, naming the file") {
  const auto msg = error_of(file_with(
      R"({"w":{"dtype":"F32","shape":[1073741824,1073741824,16],"data_offsets":[0,16]}})", 16));
  CHECK(msg.find("hostile.safetensors") != std::string::npos);
  CHECK(msg.find("'w'") != std::string::npos);
  // 2^64 overflow of the byte count must not wrap to a small size that matches the offsets.
  const auto wrap = error_of(file_with(
      R"({"w":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]}})", 0));
  CHECK(wrap.find("hostile.safetensors") != std::string::npos);
}

TEST_CASE("safetensors: a negative dimension is an error naming the file and the tensor") {
  const auto msg =
      error_of(file_with(R"({"w":{"dtype":"F32","shape":[-1,4],"data_offsets":[0,16]}})", 16));
  CHECK(msg.find("hostile.safetensors") != std::string::npos);
  CHECK(msg.find("negative dimension (-1)") != std::string::npos);
}

TEST_CASE("safetensors: malformed headers are errors naming the file") {
  for (const std::string& json :
       {std::string(R"([1,2,3])"),
        std::string(R"({"w":{"dtype":"X9","shape":[1],"data_offsets":[0,4]}})"),
        std::string(R"({"w":{"dtype":"F32","shape":"no","data_offsets":[0,4]}})"),
        std::string(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})"),
        std::string(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}})"),
        std::string(R"({"__metadata__":{"k":5}})")}) {
    CAPTURE(json);
    CHECK(error_of(file_with(json, 4)).find("hostile.safetensors") != std::string::npos);
  }
  // A header length past the end of the file.
  std::string lying = file_with("{}", 0);
  lying[0] = '\x7f';
  lying[7] = '\x7f';
  CHECK(error_of(lying).find("truncated") != std::string::npos);
  CHECK(error_of("abc").find("shorter than its header") != std::string::npos);
}

// fuzz_safetensors's finding (tests/fuzz/safetensors/corpus/regression-float-offset): a number
// beyond uint64 in data_offsets is a JSON float, which nlohmann's get<> converted with undefined
// behaviour. Floats, huge and negative values in shape or data_offsets are refused naming the
// file and the tensor.
TEST_CASE("safetensors: non-integer or out-of-range offsets and dims are errors, not UB") {
  for (const auto& [json, want] : std::vector<std::pair<std::string, std::string>>{
           {R"({"w":{"dtype":"I64","shape":[2],"data_offsets":[0,777777777777777777777777]}})",
            "tensor 'w': data_offsets holds 7.777"},
           {R"({"w":{"dtype":"I64","shape":[2],"data_offsets":[0,1e300]}})",
            "data_offsets holds 1e+300, not an integer"},
           {R"({"w":{"dtype":"I64","shape":[2],"data_offsets":[-16,0]}})", "data offsets outside"},
           {R"({"w":{"dtype":"I64","shape":[2.5],"data_offsets":[0,16]}})",
            "shape holds 2.5, not an integer"},
           {R"({"w":{"dtype":"I64","shape":[1e300],"data_offsets":[0,16]}})", "not an integer"},
           {R"({"w":{"dtype":"I64","shape":[18446744073709551615],"data_offsets":[0,16]}})",
            "a dimension of 18446744073709551615, beyond int64"},
           {R"({"w":{"dtype":"I64","shape":[-9223372036854775808],"data_offsets":[0,16]}})",
            "negative dimension (-9223372036854775808)"}}) {
    CAPTURE(json);
    const auto msg = error_of(file_with(json, 16));
    CAPTURE(msg);
    CHECK(msg.find("'hostile.safetensors' is not a valid safetensors file") != std::string::npos);
    CHECK(msg.find(want) != std::string::npos);
  }
}
