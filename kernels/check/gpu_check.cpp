// Standalone check of the augmentation kernels on Kokkos' default execution space (CUDA on a
// GPU machine, Serial here), with no torch, MPI or HDF5: results against the plain reference
// (and against the host backend when the default one is a device), then images/s.
// Built by scripts/gpu-check.sh; exit status 0 only if every comparison passes.
#include <Kokkos_Core.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/augment_kernels.hpp"
#include "kernels/reference.hpp"

using namespace skyssl;
using namespace skyssl::kernels;

namespace {

// Host batch of galaxy-like blobs on a noisy sky (Philox, deterministic).
void fill_batch(std::vector<float>& img, std::vector<std::int64_t>& ids, std::vector<float>& ebv,
                std::vector<float>& psf, int n, int c, int size) {
  img.resize(static_cast<std::size_t>(n) * c * size * size);
  ids.resize(n);
  ebv.resize(n);
  psf.resize(static_cast<std::size_t>(n) * c);
  for (int i = 0; i < n; ++i) {
    ids[i] = 1000 + 7 * i;
    const auto u = rng::draw(rng::stream_key{5, 0, static_cast<std::uint64_t>(i), 0, rng::user}, 0);
    ebv[i] = 0.1f * rng::to_unit_float(u.v[0]);
    const float sx = 2 + 6 * rng::to_unit_float(u.v[1]), sy = 1.5f + 3 * rng::to_unit_float(u.v[2]);
    for (int b = 0; b < c; ++b) psf[i * c + b] = b == 1 ? NAN : 1.1f + 0.1f * b;
    for (int b = 0; b < c; ++b)
      for (int y = 0; y < size; ++y)
        for (int x = 0; x < size; ++x) {
          const std::size_t k = ((static_cast<std::size_t>(i) * c + b) * size + y) * size + x;
          float z[4];
          noise_block(rng::stream_key{5, 1, static_cast<std::uint64_t>(i), 0, rng::user},
                      static_cast<std::uint32_t>(k / 4), z);
          const float dx = x - 0.5f * size, dy = y - 0.5f * size + 3;
          img[k] =
              (0.1f + 0.1f * b) * std::exp(-0.5f * (dx * dx / (sx * sx) + dy * dy / (sy * sy))) +
              0.004f * z[k % 4];
        }
  }
}

template <class Exec>
void run(const augment_config& cfg, const std::vector<float>& img,
         const std::vector<std::int64_t>& ids, const std::vector<float>& ebv,
         const std::vector<float>& psf, int n, int size, std::vector<float>& v1,
         std::vector<float>& v2, int iters, double* seconds) {
  using mem = typename Exec::memory_space;
  const int c = cfg.bands, h = cfg.crop_h, w = cfg.crop_w;
  Kokkos::View<float****, Kokkos::LayoutRight, mem> d_img("img", n, c, size, size);
  Kokkos::View<std::int64_t*, Kokkos::LayoutRight, mem> d_ids("ids", n);
  Kokkos::View<float*, Kokkos::LayoutRight, mem> d_ebv("ebv", n);
  Kokkos::View<float**, Kokkos::LayoutRight, mem> d_psf("psf", n, c);
  Kokkos::View<float****, Kokkos::LayoutRight, mem> d_v1("v1", n, c, h, w), d_v2("v2", n, c, h, w);
  auto up = [](auto dst, const auto* src) {
    Kokkos::View<const typename decltype(dst)::value_type*, Kokkos::HostSpace,
                 Kokkos::MemoryTraits<Kokkos::Unmanaged>>
        h(src, dst.size());
    Kokkos::View<typename decltype(dst)::value_type*, Kokkos::LayoutRight, mem,
                 Kokkos::MemoryTraits<Kokkos::Unmanaged>>
        d(dst.data(), dst.size());
    Kokkos::deep_copy(d, h);
  };
  up(d_img, img.data());
  up(d_ids, ids.data());
  up(d_ebv, ebv.data());
  up(d_psf, psf.data());
  batch_views<mem> in{d_img, d_ids, d_ebv, d_psf};
  Exec exec;
  augment_two_views(exec, cfg, in, 11, 3, images_view<mem>(d_v1.data(), n, c, h, w),
                    images_view<mem>(d_v2.data(), n, c, h, w));
  exec.fence();
  if (seconds) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < iters; ++i)
      augment_two_views(exec, cfg, in, 11, 3 + i, images_view<mem>(d_v1.data(), n, c, h, w),
                        images_view<mem>(d_v2.data(), n, c, h, w));
    exec.fence();
    *seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / iters;
    augment_two_views(exec, cfg, in, 11, 3, images_view<mem>(d_v1.data(), n, c, h, w),
                      images_view<mem>(d_v2.data(), n, c, h, w));
  }
  auto m1 = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), d_v1);
  auto m2 = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), d_v2);
  v1.assign(m1.data(), m1.data() + m1.size());
  v2.assign(m2.data(), m2.data() + m2.size());
}

// Largest difference relative to the values' scale (|a - b| / max(|b|, 0.25); stretched values lie
// in [0, 1]): nvcc fuses multiply-adds and its sinf/expf are 1-2 ulp off, and the stretch magnifies
// that ~25x, so an absolute bound would either pass garbage near zero or fail honest rounding at
// the top. NaN anywhere (or a size mismatch) is infinitely wrong: std::fmax would drop it and let
// an all-NaN result pass.
double max_rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size() || a.empty()) return INFINITY;
  double m = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double d = std::fabs(double(a[i]) - b[i]) / std::max(std::fabs(double(b[i])), 0.25);
    if (!(d <= m)) m = std::isnan(d) ? INFINITY : d;
  }
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  Kokkos::initialize(argc, argv);
  int failures = 0;
  {
    const int batch = argc > 1 ? std::atoi(argv[1]) : 64;
    const int iters = argc > 2 ? std::atoi(argv[2]) : 5;
    const double tol = 2e-4;  // relative; see max_rel_diff
    const bool want_device = std::getenv("SKYSSL_GPU_CHECK_EXPECT_DEVICE") != nullptr;
    std::printf("Kokkos default execution space: %s\n", Kokkos::DefaultExecutionSpace::name());
    if (want_device &&
        std::is_same_v<Kokkos::DefaultExecutionSpace, Kokkos::DefaultHostExecutionSpace>) {
      std::printf(
          "FAIL: a GPU check needs a device execution space, but this Kokkos' default "
          "space is the host (%s): point Kokkos_ROOT at a Kokkos built with CUDA\n",
          Kokkos::DefaultExecutionSpace::name());
      ++failures;
    }
    for (const char* preset : {"decals", "sdss"}) {
      auto cfg =
          std::string(preset) == "decals" ? augment_config::decals() : augment_config::sdss();
      const int size = cfg.input_size;
      std::vector<float> img, ebv, psf, v1, v2;
      std::vector<std::int64_t> ids;
      // Correctness on a small batch against the reference.
      const int nsmall = 4;
      fill_batch(img, ids, ebv, psf, nsmall, cfg.bands, size);
      run<Kokkos::DefaultExecutionSpace>(cfg, img, ids, ebv, psf, nsmall, size, v1, v2, 0, nullptr);
      double worst = 0;
      const std::size_t per = static_cast<std::size_t>(cfg.bands) * cfg.crop_h * cfg.crop_w;
      if (v1.size() != per * nsmall || v2.size() != per * nsmall) {
        std::printf("%-6s kernels returned %zu/%zu values, expected %zu: FAIL\n", preset, v1.size(),
                    v2.size(), per * nsmall);
        ++failures;
        continue;
      }
      for (int i = 0; i < nsmall; ++i) {
        const auto in = reference::from_buffer(
            img.data() + static_cast<std::size_t>(i) * cfg.bands * size * size, cfg.bands, size,
            size);
        for (int view = 0; view < 2; ++view) {
          const auto ref =
              reference::augment_view(cfg, in, ids[i], ebv[i], &psf[i * cfg.bands], 11, 3, view);
          const auto& got = view == 0 ? v1 : v2;
          const double d = max_rel_diff(
              std::vector<float>(got.begin() + i * per, got.begin() + (i + 1) * per), ref.px);
          if (!(d <= worst)) worst = d;
        }
      }
      const bool ok = worst < tol;
      failures += !ok;
      std::printf("%-6s kernels vs reference: max rel diff = %.2e (tol %.0e) %s\n", preset, worst,
                  tol, ok ? "OK" : "FAIL");
      if constexpr (!std::is_same_v<Kokkos::DefaultExecutionSpace,
                                    Kokkos::DefaultHostExecutionSpace>) {
        std::vector<float> h1, h2;
        run<Kokkos::DefaultHostExecutionSpace>(cfg, img, ids, ebv, psf, nsmall, size, h1, h2, 0,
                                               nullptr);
        const double d1 = max_rel_diff(v1, h1), d2 = max_rel_diff(v2, h2);
        const double d = d1 > d2 || std::isnan(d1) ? d1 : d2;
        failures += !(d < tol);
        std::printf("%-6s device vs host backend (%s): max rel diff = %.2e %s\n", preset,
                    Kokkos::DefaultHostExecutionSpace::name(), d, d < tol ? "OK" : "FAIL");
      }
      // Throughput on a full batch.
      fill_batch(img, ids, ebv, psf, batch, cfg.bands, size);
      double s = 0;
      run<Kokkos::DefaultExecutionSpace>(cfg, img, ids, ebv, psf, batch, size, v1, v2, iters, &s);
      std::printf("%-6s %dx%dx%d -> 2x%dx%d, batch %d: %.1f images/s (%.3f ms/batch)\n", preset,
                  cfg.bands, size, size, cfg.crop_h, cfg.crop_w, batch, batch / s, 1e3 * s);
    }
  }
  Kokkos::finalize();
  std::printf("%s\n", failures ? "GPU-CHECK FAILED" : "GPU-CHECK PASSED");
  return failures ? 1 : 0;
}
