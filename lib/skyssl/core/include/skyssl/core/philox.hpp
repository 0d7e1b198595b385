#pragma once
// Philox4x32-10 (Salmon et al., SC'11): a counter-based generator. A draw is a pure function
// of (key, counter), so every random choice in skyssl is keyed by
// (seed, epoch, global sample id, view, purpose, index) and no generator state exists to save,
// replay or keep in step across ranks. Usable on host and device (Kokkos/CUDA).
#include <cmath>
#include <cstdint>

#if defined(__CUDACC__) || defined(__HIPCC__)
#define SKYSSL_HD __host__ __device__ inline
#else
#define SKYSSL_HD inline
#endif

namespace skyssl::rng {

struct u32x4 {
  std::uint32_t v[4];
};

SKYSSL_HD std::uint32_t mulhilo(std::uint32_t a, std::uint32_t b, std::uint32_t& hi) {
  const std::uint64_t p = static_cast<std::uint64_t>(a) * b;
  hi = static_cast<std::uint32_t>(p >> 32);
  return static_cast<std::uint32_t>(p);
}

SKYSSL_HD u32x4 philox4x32_10(u32x4 ctr, std::uint32_t k0, std::uint32_t k1) {
  constexpr std::uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u;
  constexpr std::uint32_t W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
#if defined(__GNUC__) && !defined(__clang__) && !defined(__CUDACC__)
#pragma GCC unroll 10  // straight-line code, so a loop over counters vectorises
#endif
  for (int round = 0; round < 10; ++round) {
    std::uint32_t hi0, hi1;
    const std::uint32_t lo0 = mulhilo(M0, ctr.v[0], hi0);
    const std::uint32_t lo1 = mulhilo(M1, ctr.v[2], hi1);
    ctr = u32x4{{hi1 ^ ctr.v[1] ^ k0, lo1, hi0 ^ ctr.v[3] ^ k1, lo0}};
    k0 += W0;
    k1 += W1;
  }
  return ctr;
}

// What a random number is for. Distinct purposes give independent streams for one sample.
enum purpose : std::uint32_t {
  epoch_permutation = 1,
  augment_geometry = 2,  // flips, angle, scale, jitter
  augment_reddening = 3,
  augment_blur = 4,
  augment_noise = 5,  // per-pixel noise; index = pixel
  augment_noise_level = 6,
  shuffle_bn = 7,
  queue_init = 8,
  synth = 9,
  user = 64,
};

// The full identity of a stream. `index` selects the block of 4 words within it.
struct stream_key {
  std::uint64_t seed = 0;
  std::uint64_t epoch = 0;
  std::uint64_t sample = 0;   // global sample id (< 2^48)
  std::uint32_t view = 0;     // 0 = first view, 1 = second view (< 256)
  std::uint32_t purpose = 0;  // (< 256)
};

SKYSSL_HD u32x4 draw(const stream_key& k, std::uint32_t index) {
  u32x4 ctr{{static_cast<std::uint32_t>(k.sample),
             static_cast<std::uint32_t>((k.sample >> 32) & 0xFFFFu) << 16 | (k.view & 0xFFu) << 8 |
                 (k.purpose & 0xFFu),
             static_cast<std::uint32_t>(k.epoch), index}};
  return philox4x32_10(ctr, static_cast<std::uint32_t>(k.seed),
                       static_cast<std::uint32_t>(k.seed >> 32) ^
                           static_cast<std::uint32_t>(k.epoch >> 32) * 0x85EBCA6Bu);
}

// Uniform in [0, 1) with 24 random bits (exact in float).
SKYSSL_HD float to_unit_float(std::uint32_t x) {
  return static_cast<float>(x >> 8) * 5.9604645e-8f;
}
// Uniform in [0, 1) with 53 random bits.
SKYSSL_HD double to_unit_double(std::uint32_t hi, std::uint32_t lo) {
  return static_cast<double>((static_cast<std::uint64_t>(hi) << 21) ^ (lo >> 11)) *
         1.1102230246251565e-16;
}
// Two standard normals from two words (Box-Muller); u1 in (0, 1] so log never sees 0.
SKYSSL_HD void to_normal2(std::uint32_t a, std::uint32_t b, float& n0, float& n1) {
  const float u1 = 1.0f - to_unit_float(a);
  const float u2 = to_unit_float(b);
  const float r = sqrtf(-2.0f * logf(u1));
  const float t = 6.28318530717958647692f * u2;
  n0 = r * cosf(t);
  n1 = r * sinf(t);
}

}  // namespace skyssl::rng
