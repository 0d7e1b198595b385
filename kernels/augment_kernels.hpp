#pragma once
// The fused augmentation as Kokkos kernels, templated on the execution space (docs/
// augmentations.md). One team per (sample, view) runs three phases over team scratch:
//   1. geometry (flip, rotate, scale, jitter, crop; one inverse map, bilinear) fused with
//      reddening, into a buffer padded by the blur radius;
//   2. horizontal blur;
//   3. vertical blur + noise + stretch, into the output view.
// Kernels take an execution space and views (ARCHITECTURE.md); torch lives in augment.cpp.
#include <Kokkos_Core.hpp>

#include <cstdint>

#include "kernels/augment_config.hpp"
#include "kernels/pixel_ops.hpp"
#include "kernels/sample_params.hpp"

namespace skyssl::kernels {

template <class Mem>
using images_view =
    Kokkos::View<float****, Kokkos::LayoutRight, Mem, Kokkos::MemoryTraits<Kokkos::Unmanaged>>;
template <class Mem>
using const_images_view = Kokkos::View<const float****, Kokkos::LayoutRight, Mem,
                                       Kokkos::MemoryTraits<Kokkos::Unmanaged>>;
template <class Mem>
using ids_view = Kokkos::View<const std::int64_t*, Kokkos::LayoutRight, Mem,
                              Kokkos::MemoryTraits<Kokkos::Unmanaged>>;
template <class Mem>
using floats_view =
    Kokkos::View<const float*, Kokkos::LayoutRight, Mem, Kokkos::MemoryTraits<Kokkos::Unmanaged>>;
template <class Mem>
using floats2_view =
    Kokkos::View<const float**, Kokkos::LayoutRight, Mem, Kokkos::MemoryTraits<Kokkos::Unmanaged>>;

// Catalogue inputs of a batch, all in the execution space's memory.
template <class Mem>
struct batch_views {
  const_images_view<Mem> images;  // (N, C, H, W)
  ids_view<Mem> ids;              // (N) global sample ids
  floats_view<Mem> ebv;           // (N) catalogue E(B-V)
  floats2_view<Mem> psf_fwhm;     // (N, C) arcsec, NaN = unknown
};

namespace detail {

// Count, sum and sum of squares, reduced in one pass.
struct moments {
  double n = 0, s = 0, s2 = 0;
  KOKKOS_INLINE_FUNCTION moments& operator+=(const moments& o) {
    n += o.n;
    s += o.s;
    s2 += o.s2;
    return *this;
  }
  KOKKOS_INLINE_FUNCTION void add(double v) {
    n += 1;
    s += v;
    s2 += v * v;
  }
};
}  // namespace detail
}  // namespace skyssl::kernels

namespace Kokkos {  // lets moments be the value type of a nested parallel_reduce
template <>
struct reduction_identity<skyssl::kernels::detail::moments> {
  KOKKOS_FORCEINLINE_FUNCTION static skyssl::kernels::detail::moments sum() { return {}; }
};
}  // namespace Kokkos

namespace skyssl::kernels {
namespace detail {

// Blur of m <= 4 consecutive pixels at src (taps `stride` apart): acc[j] = sum_i w_|i| src[j + i
// stride], |i| <= r, with the symmetric half-kernel wb[0..r].
KOKKOS_INLINE_FUNCTION void blur_group(const float* src, int stride, const float* wb, int r, int m,
                                       float acc[4]) {
  if (m == 4) {
    for (int j = 0; j < 4; ++j) acc[j] = wb[0] * src[j];
    for (int i = 1; i <= r; ++i) {
      const float wi = wb[i];
      const float* a = src - i * stride;
      const float* c = src + i * stride;
      for (int j = 0; j < 4; ++j) acc[j] += wi * (a[j] + c[j]);
    }
    return;
  }
  for (int j = 0; j < m; ++j) {
    acc[j] = wb[0] * src[j];
    for (int i = 1; i <= r; ++i) acc[j] += wb[i] * (src[j - i * stride] + src[j + i * stride]);
  }
}

template <class Exec>
int vector_length() {
  return Kokkos::SpaceAccessibility<Kokkos::HostSpace, typename Exec::memory_space>::accessible
             ? 1
             : 32;
}

// Sigma-clipped (one pass at 3 sigma) std of the frame of width `border` of one band plane.
template <class Member>
KOKKOS_INLINE_FUNCTION float frame_noise(const Member& t, const float* plane, int H, int W,
                                         int border) {
  const int b = border < H / 2 ? (border < W / 2 ? border : W / 2) : H / 2;
  moments all;
  Kokkos::parallel_reduce(
      Kokkos::TeamThreadRange(t, H),
      [&](int y, moments& a) {
        const bool full = y < b || y >= H - b;
        for (int x = 0; x < W; x = (full || x != b - 1) ? x + 1 : W - b) a.add(plane[y * W + x]);
      },
      all);
  if (all.n < 2) return 0.0f;
  const double mean = all.s / all.n;
  const double sd = sqrt(fmax(all.s2 / all.n - mean * mean, 0.0));
  moments kept;
  Kokkos::parallel_reduce(
      Kokkos::TeamThreadRange(t, H),
      [&](int y, moments& a) {
        const bool full = y < b || y >= H - b;
        for (int x = 0; x < W; x = (full || x != b - 1) ? x + 1 : W - b) {
          const double v = plane[y * W + x];
          if (fabs(v - mean) <= 3.0 * sd) a.add(v);
        }
      },
      kept);
  if (kept.n < 2) return static_cast<float>(sd);
  const double m2 = kept.s / kept.n;
  return static_cast<float>(sqrt(fmax(kept.s2 / kept.n - m2 * m2, 0.0)));
}

}  // namespace detail

// Two augmented views of every sample of the batch. out1/out2: (N, C, h, w).
template <class Exec>
void augment_two_views(const Exec& exec, const augment_config& cfg,
                       const batch_views<typename Exec::memory_space>& in, std::uint64_t seed,
                       std::int64_t epoch, const images_view<typename Exec::memory_space>& out1,
                       const images_view<typename Exec::memory_space>& out2) {
  using policy_t = Kokkos::TeamPolicy<Exec>;
  using member_t = typename policy_t::member_type;
  using scratch_t = Kokkos::View<float*, typename Exec::scratch_memory_space,
                                 Kokkos::MemoryTraits<Kokkos::Unmanaged>>;
  const int N = static_cast<int>(in.images.extent(0));
  const int C = static_cast<int>(in.images.extent(1));
  const int H = static_cast<int>(in.images.extent(2));
  const int W = static_cast<int>(in.images.extent(3));
  const int h = cfg.crop_h, w = cfg.crop_w;
  const int R = cfg.max_radius();
  const int Hp = h + 2 * R, Wp = w + 2 * R;
  const int G = (w + 3) / 4;  // noise blocks per row
  const std::size_t pad_n = static_cast<std::size_t>(C) * Hp * Wp;
  const std::size_t hb_n = static_cast<std::size_t>(C) * Hp * w;
  const std::size_t wt_n = static_cast<std::size_t>(C) * (max_blur_radius + 1);
  const std::size_t bytes =
      scratch_t::shmem_size(pad_n) + scratch_t::shmem_size(hb_n) + scratch_t::shmem_size(wt_n);
  if (N == 0) return;
  // One team per sample: both views reuse the scratch and the frame-noise estimate, and the
  // input stays in cache between them.
  policy_t policy(exec, N, Kokkos::AUTO, detail::vector_length<Exec>());
  policy.set_scratch_size(1, Kokkos::PerTeam(bytes));
  const float* images = in.images.data();
  const auto ids = in.ids;
  const auto ebv = in.ebv;
  const auto psf = in.psf_fwhm;
  float* o1 = out1.data();
  float* o2 = out2.data();

  Kokkos::parallel_for(
      "skyssl::augment::two_views", policy, KOKKOS_LAMBDA(const member_t& t) {
        const int n = t.league_rank();
        const float* img = images + static_cast<std::size_t>(n) * C * H * W;
        scratch_t pad(t.team_scratch(1), pad_n), hb(t.team_scratch(1), hb_n),
            wts(t.team_scratch(1), wt_n);
        const std::uint64_t id = static_cast<std::uint64_t>(ids(n));

        // Parameters (every thread of the team draws the same ones).
        float own_noise[max_bands];
        for (int b = 0; b < C; ++b) {
          own_noise[b] = 0.0f;
          if (cfg.noise) {
            own_noise[b] = cfg.noise_from == noise_source::config
                               ? cfg.catalogue_noise[b]
                               : detail::frame_noise(t, img + static_cast<std::size_t>(b) * H * W,
                                                     H, W, cfg.noise_border);
          }
        }
        for (int view = 0; view < 2; ++view) {
          float* out = (view == 0 ? o1 : o2) + static_cast<std::size_t>(n) * C * h * w;
          const sample_params p = draw_sample_params(cfg, H, W, seed, epoch, id, view, ebv(n),
                                                     &psf(n, 0), 1, own_noise);
          Kokkos::parallel_for(Kokkos::TeamThreadRange(t, C), [&](int b) {
            const int r = p.radius[b];
            float* wb = &wts(b * (max_blur_radius + 1));
            if (r == 0) {
              wb[0] = 1.0f;
              return;
            }
            const float k = -0.5f / (p.blur_sigma[b] * p.blur_sigma[b]);
            float sum = 1.0f;
            for (int i = 1; i <= r; ++i) sum += 2.0f * (wb[i] = expf(k * i * i));
            wb[0] = 1.0f / sum;
            for (int i = 1; i <= r; ++i) wb[i] /= sum;
          });

          // Phase 1: geometry + reddening into the padded buffer (only the rows/columns the
          // band's own blur radius needs).
          const float hc = 0.5f * (h - 1), wc = 0.5f * (w - 1);
          Kokkos::parallel_for(Kokkos::TeamThreadRange(t, C * Hp), [&](int row) {
            const int b = row / Hp, py = row % Hp, r = p.radius[b];
            if (py < R - r || py >= R + h + r) return;
            const float* plane = img + static_cast<std::size_t>(b) * H * W;
            float* dst = &pad(static_cast<std::size_t>(row) * Wp);
            const float vy = static_cast<float>(py - R + p.jy) - hc;
            const float gain = p.gain[b];
            // Row constants of the affine map, hoisted (same rounding as cy + m00 vy + m01 vx).
            const float ry = p.cy + p.m00 * vy, rx = p.cx + p.m10 * vy;
            Kokkos::parallel_for(Kokkos::ThreadVectorRange(t, R - r, R + w + r), [&](int px) {
              const float vx = static_cast<float>(px - R + p.jx) - wc;
              dst[px] = gain * detail::bilinear_fast(plane, H, W, ry + p.m01 * vx, rx + p.m11 * vx);
            });
          });
          t.team_barrier();

          // Phase 2: horizontal blur of the padded rows into (Hp, w). Each vector lane does a
          // group of 4 consecutive pixels (SIMD-friendly on CPUs, and phase 3 needs whole groups
          // in one lane for the noise).
          Kokkos::parallel_for(Kokkos::TeamThreadRange(t, C * Hp), [&](int row) {
            const int b = row / Hp, py = row % Hp, r = p.radius[b];
            if (py < R - r || py >= R + h + r) return;
            const float* src = &pad(static_cast<std::size_t>(row) * Wp + R);
            float* dst = &hb(static_cast<std::size_t>(row) * w);
            const float* wb = &wts(b * (max_blur_radius + 1));
            Kokkos::parallel_for(Kokkos::ThreadVectorRange(t, G), [&](int g) {
              float acc[4];
              const int m = w - 4 * g < 4 ? w - 4 * g : 4;
              detail::blur_group(src + 4 * g, 1, wb, r, m, acc);
              for (int j = 0; j < m; ++j) dst[4 * g + j] = acc[j];
            });
          });
          t.team_barrier();

          // Phase 3: vertical blur, noise and stretch of a group of 4 pixels of every band, in
          // registers, written once to the output view.
          const rng::stream_key nk = noise_key(seed, epoch, id, view);
          const float st_m = cfg.stretch_m, st_q = cfg.stretch_q, st_isq = 1.0f / sqrtf(st_q);
          Kokkos::parallel_for(Kokkos::TeamThreadRange(t, h), [&](int y) {
            Kokkos::parallel_for(Kokkos::ThreadVectorRange(t, G), [&](int g) {
              const int m = w - 4 * g < 4 ? w - 4 * g : 4;
              float v[max_bands][4] = {};  // lanes j >= m stay 0 (stretched, not stored)
              for (int b = 0; b < C; ++b) {
                const float* src = &hb((static_cast<std::size_t>(b) * Hp + R + y) * w + 4 * g);
                detail::blur_group(src, w, &wts(b * (max_blur_radius + 1)), p.radius[b], m, v[b]);
                const float sigma = p.noise_sigma[b];
                if (sigma > 0.0f) {
                  float z[4];
                  noise_block(nk, static_cast<std::uint32_t>((b * h + y) * G + g), z);
                  for (int j = 0; j < m; ++j) v[b][j] += sigma * z[j];
                }
              }
              if (cfg.stretch) detail::stretch_group(v, C, cfg.stretch_scale, st_m, st_q, st_isq);
              for (int b = 0; b < C; ++b) {
                float* o = out + (static_cast<std::size_t>(b) * h + y) * w + 4 * g;
                if (m == 4)  // constant trip count: one vector store
                  for (int j = 0; j < 4; ++j) o[j] = v[b][j];
                else
                  for (int j = 0; j < m; ++j) o[j] = v[b][j];
              }
            });
          });
          t.team_barrier();  // the next view overwrites the scratch
        }
      });
}

// The validation view: the integer-offset centre crop (offset (H-h)/2, (W-w)/2), stretched if
// the config says so.
template <class Exec>
void center_crop(const Exec& exec, const augment_config& cfg,
                 const const_images_view<typename Exec::memory_space>& in,
                 const images_view<typename Exec::memory_space>& out) {
  const int N = static_cast<int>(in.extent(0)), C = static_cast<int>(in.extent(1));
  const int H = static_cast<int>(in.extent(2)), W = static_cast<int>(in.extent(3));
  const int h = cfg.crop_h, w = cfg.crop_w, oy = (H - h) / 2, ox = (W - w) / 2;
  const float* src = in.data();
  float* dst = out.data();
  Kokkos::parallel_for(
      "skyssl::augment::center_crop", Kokkos::RangePolicy<Exec>(exec, 0, N * h),
      KOKKOS_LAMBDA(int i) {
        const int n = i / h, y = i % h;
        for (int x = 0; x < w; ++x) {
          float v[max_bands];
          for (int b = 0; b < C; ++b)
            v[b] = src[((static_cast<std::size_t>(n) * C + b) * H + oy + y) * W + ox + x];
          if (cfg.stretch)
            detail::stretch_pixel(v, C, cfg.stretch_scale, cfg.stretch_m, cfg.stretch_q);
          for (int b = 0; b < C; ++b)
            dst[((static_cast<std::size_t>(n) * C + b) * h + y) * w + x] = v[b];
        }
      });
}

}  // namespace skyssl::kernels
