// libFuzzer: FITS cutouts (data/fits_image) from their bytes, gzip included, with an 8 MiB
// inflation cap. Checked: no memory error, no exception but skyssl::error (a bad_alloc from a
// header taken on trust is a finding), and an accepted image has as many pixels as its axes say.
#include <cstdint>
#include <string>
#include <vector>

#include "skyssl/data/fits_image.hpp"
#include "tests/fuzz/common/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  skyssl::fuzz::expect_only_skyssl_errors([&] {
    std::vector<long> dims;
    const auto px = skyssl::data::parse_fits_image(bytes, "fuzz.fits", dims, std::size_t{8} << 20);
    if (dims.size() < 2 || dims.size() > 3) __builtin_trap();
    std::size_t n = 1;
    for (const long d : dims) {
      if (d < 1) __builtin_trap();
      n *= static_cast<std::size_t>(d);
    }
    if (n != px.size()) __builtin_trap();
  });
  return 0;
}
