#pragma once
// The fused augmentation as Kokkos kernels, templated on the execution space (docs/
// augmentations.md). One team per (sample, view) runs three phases over team scratch:
//   1. geometry (flip, rotate, scale, jitter, crop; one inverse map, bilinear) fused with
//      reddening, into a buffer padded by the blur radius;
//   2. horizontal blur;
//   3. vertical blur + noise + stretch, into the output view.
// Kernels take an execution space and views, so one body serves every Kokkos backend; torch
// lives in augment.cpp.
#include <Kokkos_Core.hpp>

#include <cstdint>
#include <cstring>

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

// A loop whose iterations are independent, run by the vector lanes of one thread: Kokkos'
// ThreadVectorRange on GPUs; on CPUs a plain loop the compiler is told to vectorise (Kokkos'
// Serial range carries no such hint here). Consecutive lanes() calls of one thread see each
// other's writes: each ends with a warp sync on CUDA.
template <class Member, class F>
KOKKOS_INLINE_FUNCTION void lanes(const Member& t, int lo, int hi, const F& f) {
#if defined(__CUDA_ARCH__) || defined(__HIP_DEVICE_COMPILE__)
  Kokkos::parallel_for(Kokkos::ThreadVectorRange(t, lo, hi), f);
#else
  (void)t;
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC ivdep
#endif
  for (int i = lo; i < hi; ++i) f(i);
#endif
}

// Whether Exec runs on the host CPU. Asks about the execution space, not its memory: a CUDA
// UVM build's memory is host-accessible, yet its kernels run on the GPU and must not take the
// host-only vector paths.
template <class Exec>
constexpr bool host_space() {
  return Kokkos::SpaceAccessibility<Exec, Kokkos::HostSpace>::accessible;
}

// Bilinear samples of every band (up to 4) of pixels px in [a, e) of one geometry row, from
// the band-interleaved image il (4 floats per pixel; the footprint must lie inside the image)
// into rows[b * stride + px], times gain[b]. Host only: 16-byte vectors, one per corner.
KOKKOS_INLINE_FUNCTION void sample_interleaved(const float* il, int W, float ry, float my, float rx,
                                               float mx, float x_off, const float* gain, int a,
                                               int e, float* rows, int stride) {
#if defined(__CUDA_ARCH__) || defined(__HIP_DEVICE_COMPILE__)
  (void)il, (void)W, (void)ry, (void)my, (void)rx, (void)mx, (void)x_off, (void)gain, (void)a;
  (void)e, (void)rows, (void)stride;
#else
  typedef float f32x4 __attribute__((vector_size(16)));
  const f32x4 g = {gain[0], gain[1], gain[2], gain[3]};
  float* r0 = rows;
  float* r1 = rows + stride;
  float* r2 = rows + 2 * stride;
  float* r3 = rows + 3 * stride;
  constexpr int B = 8;  // coordinates of 8 pixels at a time, computed as vectors
  for (int p0 = a; p0 < e; p0 += B) {
    int at[B];
    float wy[B], wx[B];
    for (int j = 0; j < B; ++j) {
      const float vx = static_cast<float>(p0 + j) + x_off;
      const float y = ry + my * vx, x = rx + mx * vx;
      // Past e the pixel may lie outside the image: its index is computed, never used.
      const int y0 = static_cast<int>(y), x0 = static_cast<int>(x);
      wy[j] = y - static_cast<float>(y0);
      wx[j] = x - static_cast<float>(x0);
      at[j] = 4 * (y0 * W + x0);
    }
    const int n = e - p0 < B ? e - p0 : B;
    for (int j = 0; j < n; ++j) {
      const float* q = il + at[j];
      const float fy = wy[j], fx = wx[j];
      f32x4 c00, c01, c10, c11;
      memcpy(&c00, q, sizeof c00);
      memcpy(&c01, q + 4, sizeof c01);
      memcpy(&c10, q + 4 * W, sizeof c10);
      memcpy(&c11, q + 4 * W + 4, sizeof c11);
      // The arithmetic of bilinear_inside(), lane-wise.
      const f32x4 v =
          ((1.0f - fy) * ((1.0f - fx) * c00 + fx * c01) + fy * ((1.0f - fx) * c10 + fx * c11)) * g;
      const int px = p0 + j;
      r0[px] = v[0];
      r1[px] = v[1];
      r2[px] = v[2];
      r3[px] = v[3];
    }
  }
#endif
}

// Narrows [lo, hi) to the pixels px whose sampling coordinate c0 + m (px + off) lies inside
// [0.5, n - 1.5]: a half pixel inside the range where bilinear_inside() is valid, which
// covers float rounding of the per-pixel coordinate by a wide margin.
KOKKOS_INLINE_FUNCTION void interior_span(float c0, float m, float off, int n, int& lo, int& hi) {
  const double a = 0.5 - c0, b = n - 1.5 - c0;
  if (m == 0.0f) {
    if (!(a <= 0.0 && 0.0 <= b)) hi = lo;
    return;
  }
  double v0 = a / m, v1 = b / m;
  if (v0 > v1) {
    const double s = v0;
    v0 = v1;
    v1 = s;
  }
  const double first = ceil(v0 - off), last = floor(v1 - off);
  if (first > lo) lo = first > hi ? hi : static_cast<int>(first);
  if (last + 1 < hi) hi = last + 1 < lo ? lo : static_cast<int>(last + 1);
}

#if !defined(__CUDA_ARCH__) && !defined(__HIP_DEVICE_COMPILE__)
// 8 floats as one value (GCC/Clang vector extension): one AVX register (x86-64-v3 and up).
// Wider types are no faster with AVX-512 and much slower where the compiler must split them.
// Loaded and stored with memcpy (no alignment assumed).
typedef float f32x8 __attribute__((vector_size(32)));
#endif

// Separable blur along one axis: dst[x] = sum_|i|<=r wb[|i|] src[x + i stride], x < w, with
// the symmetric half-kernel wb[0..r]. A CPU lane keeps 8 accumulators in a register across
// every tap (one load pair per tap, one store at the end); a GPU lane keeps one pixel.
template <class Member>
KOKKOS_INLINE_FUNCTION void blur_row(const Member& t, const float* src, int stride, const float* wb,
                                     int r, int w, float* dst) {
  const auto one_pixel = [&](int x) {
    float acc = wb[0] * src[x];
    for (int i = 1; i <= r; ++i) acc += wb[i] * (src[x - i * stride] + src[x + i * stride]);
    dst[x] = acc;
  };
#if defined(__CUDA_ARCH__) || defined(__HIP_DEVICE_COMPILE__)
  lanes(t, 0, w, one_pixel);
#else
  (void)t;
  constexpr int V = 8;
  int x0 = 0;
  for (; x0 + V <= w; x0 += V) {
    f32x8 acc, a, c;
    memcpy(&a, src + x0, sizeof a);
    acc = wb[0] * a;
    for (int i = 1; i <= r; ++i) {
      memcpy(&a, src + x0 - i * stride, sizeof a);
      memcpy(&c, src + x0 + i * stride, sizeof c);
      acc += wb[i] * (a + c);
    }
    memcpy(dst + x0, &acc, sizeof acc);
  }
  for (int x = x0; x < w; ++x) one_pixel(x);  // the last, partial group
#endif
}

// The Lupton stretch of one output row of every band (band b at row + b * band_stride), in
// place; f: scratch for w floats. Pixel-major passes, so each is a vector loop.
template <class Member>
KOKKOS_INLINE_FUNCTION void stretch_row(const Member& t, float* row, std::size_t band_stride, int C,
                                        int w, const augment_config& cfg, float* f) {
  const float mm = cfg.stretch_m, q = cfg.stretch_q, inv_sqrt_q = 1.0f / sqrtf(q);
  const float inv_bands = 1.0f / static_cast<float>(C);
  lanes(t, 0, w, [&](int x) { f[x] = 0.0f; });
  for (int b = 0; b < C; ++b) {
    const float sc = cfg.stretch_scale[b];
    const float* v = row + b * band_stride;
    lanes(t, 0, w, [&](int x) { f[x] += pos_part(v[x] * sc + mm); });
  }
  lanes(t, 0, w, [&](int x) {
    const float I = f[x] * inv_bands;
    f[x] = asinh_nonneg(q * I) * inv_sqrt_q / (I == 0.0f ? 1e-6f : I);
  });
  for (int b = 0; b < C; ++b) {
    const float sc = cfg.stretch_scale[b];
    float* v = row + b * band_stride;
    lanes(t, 0, w, [&](int x) { v[x] = min_one(pos_part((v[x] * sc + mm) * f[x])); });
  }
}

template <class Exec>
int vector_length() {
  return host_space<Exec>() ? 1 : 32;
}

// Adds p[0..n) to m; with `clip`, only the values within `width` of `centre`. Eight
// independent partial sums, so the loop vectorises without licence to reassociate.
KOKKOS_INLINE_FUNCTION void add_segment(const float* p, int n, bool clip, double centre,
                                        double width, moments& m) {
  double c[8] = {}, s[8] = {}, s2[8] = {};
  int i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) {
      const double v = p[i + j];
      const bool keep = !clip || fabs(v - centre) <= width;
      c[j] += keep ? 1.0 : 0.0;
      s[j] += keep ? v : 0.0;
      s2[j] += keep ? v * v : 0.0;
    }
  for (; i < n; ++i) {
    const double v = p[i];
    if (!clip || fabs(v - centre) <= width) m.add(v);
  }
  for (int j = 0; j < 8; ++j) {
    m.n += c[j];
    m.s += s[j];
    m.s2 += s2[j];
  }
}

// Sigma-clipped (one pass at 3 sigma) std of the frame of width `border` of one band plane.
template <class Member>
KOKKOS_INLINE_FUNCTION float frame_noise(const Member& t, const float* plane, int H, int W,
                                         int border) {
  const int b = border < H / 2 ? (border < W / 2 ? border : W / 2) : H / 2;
  // Row y of the frame: the whole row near the top and bottom, else its two ends.
  const auto frame_row = [=](int y, bool clip, double centre, double width, moments& a) {
    const float* row = plane + static_cast<std::size_t>(y) * W;
    if (y < b || y >= H - b) {
      add_segment(row, W, clip, centre, width, a);
    } else {
      add_segment(row, b, clip, centre, width, a);
      add_segment(row + W - b, b, clip, centre, width, a);
    }
  };
  moments all;
  Kokkos::parallel_reduce(
      Kokkos::TeamThreadRange(t, H), [&](int y, moments& a) { frame_row(y, false, 0, 0, a); }, all);
  if (all.n < 2) return 0.0f;
  const double mean = all.s / all.n;
  const double sd = sqrt(fmax(all.s2 / all.n - mean * mean, 0.0));
  moments kept;
  Kokkos::parallel_reduce(
      Kokkos::TeamThreadRange(t, H),
      [&](int y, moments& a) { frame_row(y, true, mean, 3.0 * sd, a); }, kept);
  if (kept.n < 2) return static_cast<float>(sd);
  const double m2 = kept.s / kept.n;
  return static_cast<float>(sqrt(fmax(kept.s2 / kept.n - m2 * m2, 0.0)));
}

}  // namespace detail

// The per-sample work of augment_two_views: one team per sample (league rank = sample), the
// body Kokkos runs for each league index. A functor rather than a lambda so that a host thread
// can also run it over a sample range by itself (serial_team.hpp, augment.threads) with the
// arithmetic of the Kokkos dispatch, and so the scratch sizes are computed in one place.
template <class Exec>
struct two_views_body {
  using member_t = typename Kokkos::TeamPolicy<Exec>::member_type;
  using mem_t = typename Exec::memory_space;
  using scratch_t = Kokkos::View<float*, typename Exec::scratch_memory_space,
                                 Kokkos::MemoryTraits<Kokkos::Unmanaged>>;

  augment_config cfg;
  const float* images;
  ids_view<mem_t> ids;
  floats_view<mem_t> ebv;
  floats2_view<mem_t> psf;
  float* o1;
  float* o2;
  std::uint64_t seed;
  std::int64_t epoch;
  int N, C, H, W, h, w, R, Hp, Wp, G;
  // CPUs sample all bands of a pixel at once from a band-interleaved copy of the image (four
  // floats per pixel: four 16-byte loads per output pixel instead of four gathers per band).
  bool interleave;
  int CR;  // geometry rows per thread (4 for the interleaved stores)
  // Per team: the horizontally blurred rows of every band, the blur weights and the
  // interleaved image. Per thread: one geometry row per band, one row of normals, one row of
  // stretch factors.
  std::size_t hb_n, wt_n, il_n, team_bytes, thread_bytes;

  two_views_body(const augment_config& c, const batch_views<mem_t>& in, std::uint64_t seed_,
                 std::int64_t epoch_, const images_view<mem_t>& out1,
                 const images_view<mem_t>& out2)
      : cfg(c),
        images(in.images.data()),
        ids(in.ids),
        ebv(in.ebv),
        psf(in.psf_fwhm),
        o1(out1.data()),
        o2(out2.data()),
        seed(seed_),
        epoch(epoch_) {
    N = static_cast<int>(in.images.extent(0));
    C = static_cast<int>(in.images.extent(1));
    H = static_cast<int>(in.images.extent(2));
    W = static_cast<int>(in.images.extent(3));
    h = cfg.crop_h;
    w = cfg.crop_w;
    R = cfg.max_radius();
    Hp = h + 2 * R;
    Wp = w + 2 * R;
    G = (w + 3) / 4;  // noise blocks per row
    interleave = detail::host_space<Exec>() && C <= 4;
    CR = C < 4 ? 4 : C;
    hb_n = static_cast<std::size_t>(C) * Hp * w;
    wt_n = static_cast<std::size_t>(C) * (max_blur_radius + 1);
    il_n = interleave ? static_cast<std::size_t>(H) * W * 4 : 0;
    team_bytes =
        scratch_t::shmem_size(hb_n) + scratch_t::shmem_size(wt_n) + scratch_t::shmem_size(il_n);
    thread_bytes = scratch_t::shmem_size(static_cast<std::size_t>(CR) * Wp) +
                   scratch_t::shmem_size(static_cast<std::size_t>(4 * G)) +
                   scratch_t::shmem_size(static_cast<std::size_t>(w));
  }

  KOKKOS_INLINE_FUNCTION void operator()(const member_t& t) const {
    const int n = t.league_rank();
    const float* img = images + static_cast<std::size_t>(n) * C * H * W;
    scratch_t hb_view(t.team_scratch(1), hb_n), wts(t.team_scratch(1), wt_n),
        il_view(t.team_scratch(1), il_n);
    scratch_t rows_view(t.thread_scratch(1), static_cast<std::size_t>(CR) * Wp),
        z_view(t.thread_scratch(1), 4 * G), f_view(t.thread_scratch(1), w);
    float* const hb = hb_view.data();
    float* const rows = rows_view.data();
    float* const z = z_view.data();
    float* const f = f_view.data();
    const std::uint64_t id = static_cast<std::uint64_t>(ids(n));

    // Parameters (every thread of the team draws the same ones).
    float own_noise[max_bands];
    for (int b = 0; b < C; ++b) {
      own_noise[b] = 0.0f;
      if (cfg.noise) {
        own_noise[b] = cfg.noise_from == noise_source::config
                           ? cfg.catalogue_noise[b]
                           : detail::frame_noise(t, img + static_cast<std::size_t>(b) * H * W, H, W,
                                                 cfg.noise_border);
      }
    }
    if (interleave) {
      float* il = il_view.data();
      Kokkos::parallel_for(Kokkos::TeamThreadRange(t, H), [&](int y) {
        for (int b = 0; b < 4; ++b) {
          const float* src = img + (static_cast<std::size_t>(b) * H + y) * W;
          float* dst = il + static_cast<std::size_t>(y) * W * 4 + b;
          if (b < C)
            detail::lanes(t, 0, W, [&](int x) { dst[4 * x] = src[x]; });
          else
            detail::lanes(t, 0, W, [&](int x) { dst[4 * x] = 0.0f; });
        }
      });
      t.team_barrier();
    }
    for (int view = 0; view < 2; ++view) {
      float* out = (view == 0 ? o1 : o2) + static_cast<std::size_t>(n) * C * h * w;
      const sample_params p =
          draw_sample_params(cfg, H, W, seed, epoch, id, view, ebv(n), &psf(n, 0), 1, own_noise);
      // One vector lane per band writes its weights: on a GPU every lane of a thread runs
      // this body, and `wb[i] /= sum` by 32 lanes at once would race.
      Kokkos::parallel_for(Kokkos::TeamThreadRange(t, C), [&](int b) {
        Kokkos::single(Kokkos::PerThread(t), [&]() {
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
      });
      t.team_barrier();

      // Phase 1, per padded row: geometry + reddening of every band into the thread's
      // rows (the columns the widest blur of this view needs), then the horizontal blur of
      // each band that needs the row into hb. Bilinear sampling takes a check-free path
      // on the part of the row whose footprint lies inside the image.
      int rmax = 0;
      for (int b = 0; b < C; ++b) rmax = p.radius[b] > rmax ? p.radius[b] : rmax;
      const float hc = 0.5f * (h - 1), wc = 0.5f * (w - 1);
      Kokkos::parallel_for(Kokkos::TeamThreadRange(t, R - rmax, R + h + rmax), [&](int py) {
        const float vy = static_cast<float>(py - R + p.jy) - hc;
        // Row constants of the affine map, hoisted (same rounding as cy + m00 vy + m01 vx).
        const float ry = p.cy + p.m00 * vy, rx = p.cx + p.m10 * vy;
        const float my = p.m01, mx = p.m11, x_off = static_cast<float>(p.jx - R) - wc;
        const int lo = R - rmax, hi = R + w + rmax;
        int a = lo, e = hi;
        detail::interior_span(ry, my, x_off, H, a, e);
        detail::interior_span(rx, mx, x_off, W, a, e);  // leaves lo <= a <= e <= hi
        for (int b = 0; b < C; ++b) {
          const float* plane = img + static_cast<std::size_t>(b) * H * W;
          const float gain = p.gain[b];
          float* row = rows + static_cast<std::size_t>(b) * Wp;
          const auto edge = [&](int px) {
            const float vx = static_cast<float>(px) + x_off;
            row[px] = gain * detail::bilinear(plane, H, W, ry + my * vx, rx + mx * vx);
          };
          detail::lanes(t, lo, a, edge);
          detail::lanes(t, e, hi, edge);
          if (!interleave)
            detail::lanes(t, a, e, [&](int px) {
              const float vx = static_cast<float>(px) + x_off;
              row[px] = gain * detail::bilinear_inside(plane, W, ry + my * vx, rx + mx * vx);
            });
        }
        if (interleave)
          detail::sample_interleaved(il_view.data(), W, ry, my, rx, mx, x_off, p.gain, a, e, rows,
                                     Wp);
        for (int b = 0; b < C; ++b) {
          const int r = p.radius[b];
          if (py < R - r || py >= R + h + r) continue;
          detail::blur_row(t, rows + static_cast<std::size_t>(b) * Wp + R, 1,
                           &wts(b * (max_blur_radius + 1)), r, w,
                           hb + (static_cast<std::size_t>(b) * Hp + py) * w);
        }
      });
      t.team_barrier();

      // Phase 2, per output row: vertical blur of every band into the output row, then
      // noise and the stretch on it while it is in cache.
      const rng::stream_key nk = noise_key(seed, epoch, id, view);
      Kokkos::parallel_for(Kokkos::TeamThreadRange(t, h), [&](int y) {
        for (int b = 0; b < C; ++b) {
          float* o = out + (static_cast<std::size_t>(b) * h + y) * w;
          detail::blur_row(t, hb + (static_cast<std::size_t>(b) * Hp + R + y) * w, w,
                           &wts(b * (max_blur_radius + 1)), p.radius[b], w, o);
          const float sigma = p.noise_sigma[b];
          if (!(sigma > 0.0f)) continue;
          const std::uint32_t first = static_cast<std::uint32_t>((b * h + y) * G);
          detail::lanes(t, 0, G, [&](int g) {
            float n4[4];
            noise_block(nk, first + static_cast<std::uint32_t>(g), n4);
            for (int j = 0; j < 4; ++j) z[4 * g + j] = n4[j];
          });
          detail::lanes(t, 0, w, [&](int x) { o[x] += sigma * z[x]; });
        }
        if (cfg.stretch)
          detail::stretch_row(t, out + static_cast<std::size_t>(y) * w,
                              static_cast<std::size_t>(h) * w, C, w, cfg, f);
      });
      t.team_barrier();  // the next view overwrites the scratch
    }
  }
};

// Two augmented views of every sample of the batch. out1/out2: (N, C, h, w).
template <class Exec>
void augment_two_views(const Exec& exec, const augment_config& cfg,
                       const batch_views<typename Exec::memory_space>& in, std::uint64_t seed,
                       std::int64_t epoch, const images_view<typename Exec::memory_space>& out1,
                       const images_view<typename Exec::memory_space>& out2) {
  using policy_t = Kokkos::TeamPolicy<Exec>;
  const two_views_body<Exec> body(cfg, in, seed, epoch, out1, out2);
  if (body.N == 0) return;
  // One team per sample: both views reuse the scratch and the frame-noise estimate, and the
  // input stays in cache between them.
  policy_t policy(exec, body.N, Kokkos::AUTO, detail::vector_length<Exec>());
  policy.set_scratch_size(1, Kokkos::PerTeam(body.team_bytes),
                          Kokkos::PerThread(body.thread_bytes));
  Kokkos::parallel_for("skyssl::augment::two_views", policy, body);
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
