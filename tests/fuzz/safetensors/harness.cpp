// libFuzzer: the safetensors header parser (model/safetensors_header), the part of
// read_safetensors that decides every size before a tensor is allocated. Checked: no memory
// error, no exception but skyssl::error, and every accepted entry lies inside the input.
#include <cstdint>
#include <map>
#include <string>

#include "skyssl/model/safetensors_header.hpp"
#include "tests/fuzz/common/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  skyssl::fuzz::expect_only_skyssl_errors([&] {
    std::map<std::string, std::string> meta;
    const auto entries = skyssl::model::parse_safetensors_header(
        reinterpret_cast<const char*>(data), size, "fuzz.safetensors", &meta);
    for (const auto& e : entries) {
      std::uint64_t elems = 1;
      for (const auto d : e.shape) {
        if (d < 0) __builtin_trap();
        elems *= static_cast<std::uint64_t>(d);
      }
      if (e.begin < 8 || e.begin > size || e.bytes > size - e.begin) __builtin_trap();
      if (e.bytes != elems * skyssl::model::safetensors_element_size(e.dtype)) __builtin_trap();
      // Touch the first and last byte: ASan checks they are inside the input.
      if (e.bytes > 0) {
        volatile std::uint8_t sink = data[e.begin] ^ data[e.begin + e.bytes - 1];
        (void)sink;
      }
    }
  });
  return 0;
}
