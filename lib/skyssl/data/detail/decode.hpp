#pragma once
// Stored pixels -> float32 in one pass, with the non-finite check fused in: the loop the
// direct reads of lib/data run on every row (float32 is checked in place, float16 and uint16
// are decoded from the bytes just read). Written as plain branch-free loops the compiler
// vectorises; private to lib/data.
#include <cstddef>
#include <cstdint>

namespace skyssl::data::detail {

enum class stored_type { f32, f16, u16, f64, i32, i64 };

// Size in bytes of one stored element.
std::size_t stored_size(stored_type t);

// float16 bits -> float32 (IEEE 754 binary16; subnormals, Inf and NaN included).
float half_to_float(std::uint16_t h);

// Converts n stored elements at src into dst (src may equal dst for f32). Non-finite values
// are counted and, when zero_nonfinite, replaced by 0. Returns the number found; *first (if
// given) gets the index of the first one, or -1.
std::int64_t decode_pixels(const void* src, stored_type type, float* dst, std::size_t n,
                           bool zero_nonfinite, std::int64_t* first = nullptr);

// The same for catalogue columns: n stored elements -> double (no check).
void decode_column(const void* src, stored_type type, double* dst, std::size_t n);

}  // namespace skyssl::data::detail
