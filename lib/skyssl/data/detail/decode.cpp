#include "skyssl/data/detail/decode.hpp"

#include <cmath>
#include <cstring>

namespace skyssl::data::detail {

namespace {

inline std::uint32_t bits_of(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
inline float float_of(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
inline bool nonfinite_bits(std::uint32_t u) { return (u & 0x7f800000u) == 0x7f800000u; }

// Counts (and optionally zeroes) non-finite floats in place; branch-free, 16 lanes of 32-bit
// counters so the compiler vectorises the loop (the counters hold up to 2^32 per lane).
std::int64_t check_floats(float* p, std::size_t n, bool zero) {
  std::uint32_t lanes[16] = {0};
  std::size_t i = 0;
  if (zero) {
    for (; i + 16 <= n; i += 16)
      for (int j = 0; j < 16; ++j) {
        const std::uint32_t u = bits_of(p[i + j]);
        const std::uint32_t b = nonfinite_bits(u);
        lanes[j] += b;
        p[i + j] = float_of(b ? 0u : u);
      }
  } else {
    for (; i + 16 <= n; i += 16)
      for (int j = 0; j < 16; ++j) lanes[j] += nonfinite_bits(bits_of(p[i + j]));
  }
  std::int64_t bad = 0;
  for (; i < n; ++i) {
    const std::uint32_t u = bits_of(p[i]);
    const bool b = nonfinite_bits(u);
    bad += b;
    if (zero && b) p[i] = 0.0f;
  }
  for (std::uint32_t l : lanes) bad += l;
  return bad;
}

std::int64_t first_nonfinite(const float* p, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    if (!std::isfinite(p[i])) return static_cast<std::int64_t>(i);
  return -1;
}

}  // namespace

std::size_t stored_size(stored_type t) {
  switch (t) {
    case stored_type::f16:
    case stored_type::u16:
      return 2;
    case stored_type::f32:
    case stored_type::i32:
      return 4;
    case stored_type::f64:
    case stored_type::i64:
      return 8;
  }
  return 4;
}

float half_to_float(std::uint16_t h) {
  // Exponent and mantissa moved into float position and the bias adjusted; Inf/NaN get the
  // full float exponent, subnormals are renormalised by one float subtraction (exact).
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t em = static_cast<std::uint32_t>(h & 0x7fffu) << 13;
  const std::uint32_t exp = em & 0x0f800000u;
  const std::uint32_t normal = em + ((127u - 15u) << 23);
  const std::uint32_t special = normal + ((128u - 16u) << 23);  // Inf / NaN
  const float sub = float_of(em + (113u << 23)) - float_of(113u << 23);
  const std::uint32_t mag = exp == 0x0f800000u ? special : (exp == 0 ? bits_of(sub) : normal);
  return float_of(mag | sign);
}

std::int64_t decode_pixels(const void* src, stored_type type, float* dst, std::size_t n,
                           bool zero_nonfinite, std::int64_t* first) {
  std::int64_t bad = 0;
  switch (type) {
    case stored_type::f32:
      if (src != dst) std::memcpy(dst, src, n * sizeof(float));
      bad = check_floats(dst, n, false);
      break;
    case stored_type::f16: {
      const auto* s = static_cast<const std::uint16_t*>(src);
      for (std::size_t i = 0; i < n; ++i) {
        bad += (s[i] & 0x7c00u) == 0x7c00u;
        dst[i] = half_to_float(s[i]);
      }
      break;
    }
    case stored_type::u16: {
      const auto* s = static_cast<const std::uint16_t*>(src);
      for (std::size_t i = 0; i < n; ++i) dst[i] = static_cast<float>(s[i]);
      break;
    }
    case stored_type::f64: {
      const auto* s = static_cast<const double*>(src);
      for (std::size_t i = 0; i < n; ++i) dst[i] = static_cast<float>(s[i]);
      bad = check_floats(dst, n, false);
      break;
    }
    case stored_type::i32: {
      const auto* s = static_cast<const std::int32_t*>(src);
      for (std::size_t i = 0; i < n; ++i) dst[i] = static_cast<float>(s[i]);
      break;
    }
    case stored_type::i64: {
      const auto* s = static_cast<const std::int64_t*>(src);
      for (std::size_t i = 0; i < n; ++i) dst[i] = static_cast<float>(s[i]);
      break;
    }
  }
  if (first) *first = bad ? first_nonfinite(dst, n) : -1;
  if (bad && zero_nonfinite) check_floats(dst, n, true);  // rare: a second pass only then
  return bad;
}

void decode_column(const void* src, stored_type type, double* dst, std::size_t n) {
  switch (type) {
    case stored_type::f32: {
      const auto* s = static_cast<const float*>(src);
      for (std::size_t i = 0; i < n; ++i) dst[i] = s[i];
      break;
    }
    case stored_type::f64:
      std::memcpy(dst, src, n * sizeof(double));
      break;
    case stored_type::f16: {
      const auto* s = static_cast<const std::uint16_t*>(src);
      for (std::size_t i = 0; i < n; ++i) dst[i] = half_to_float(s[i]);
      break;
    }
    case stored_type::u16: {
      const auto* s = static_cast<const std::uint16_t*>(src);
      for (std::size_t i = 0; i < n; ++i) dst[i] = s[i];
      break;
    }
    case stored_type::i32: {
      const auto* s = static_cast<const std::int32_t*>(src);
      for (std::size_t i = 0; i < n; ++i) dst[i] = s[i];
      break;
    }
    case stored_type::i64: {
      const auto* s = static_cast<const std::int64_t*>(src);
      for (std::size_t i = 0; i < n; ++i) dst[i] = static_cast<double>(s[i]);
      break;
    }
  }
}

}  // namespace skyssl::data::detail
