// Fused Kokkos augmentation vs the same chain written with LibTorch ops (grid_sample for the
// geometry, separable depthwise conv2d blur, randn noise, tensor-op stretch), on the same
// threads, in one run. Prints images/s, bytes moved per image and the fraction of the memory
// bandwidth measured here with a memcpy.
//   bench_augment [--batch 64] [--iters 15] [--input 152] [--crop 96] [--threads 1]
//                 [--augment-threads 1,2]
// --augment-threads adds one pooled fused side per count, its sub-batches on that many host
// threads (augment.threads, kernels/augment_threads.hpp), timed by the wall clock (CPU time
// adds the threads up), and checks their views equal the single-thread ones bit for bit.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <torch/types.h>
#include <torch/utils.h>

#include <Kokkos_Core.hpp>

#include <malloc.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <ctime>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/augment.hpp"
#include "kernels/augment_threads.hpp"
#include "kernels/sample_params.hpp"
#include "kernels/view_pool.hpp"
#include "skyssl/core/huge_pages.hpp"
#include "skyssl/core/philox.hpp"

using namespace skyssl;
using namespace skyssl::kernels;
using clock_type = std::chrono::steady_clock;

namespace {

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}
// CPU time of the process: on a shared, oversubscribed machine wall time mostly measures the
// neighbours; both sides run on one thread, so CPU time is the fair clock.
double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

// The same chain with LibTorch ops. Parameters come from the same draw, so with noise off
// the result matches the fused kernels (printed as a sanity check).
torch::Tensor torch_chain(const augment_config& c, const torch::Tensor& images,
                          const torch::Tensor& ids, const torch::Tensor& ebv,
                          const torch::Tensor& psf, std::uint64_t seed, std::int64_t epoch) {
  const auto N = images.size(0), C = images.size(1), H = images.size(2), W = images.size(3);
  const int h = c.crop_h, w = c.crop_w, R = c.max_radius(), Hp = h + 2 * R, Wp = w + 2 * R;
  const int K = 2 * R + 1;
  auto theta = torch::empty({2 * N, 2, 3}, torch::kFloat32);
  auto gain = torch::empty({2 * N, C, 1, 1}, torch::kFloat32);
  auto taps = torch::zeros({2 * N * C, K}, torch::kFloat32);
  auto sigma = torch::empty({2 * N, C, 1, 1}, torch::kFloat32);
  auto th = theta.accessor<float, 3>();
  auto ga = gain.accessor<float, 4>();
  auto ta = taps.accessor<float, 2>();
  auto sa = sigma.accessor<float, 4>();
  const auto own = images.slice(2, 0, c.noise_border).std({2, 3});  // a rough border estimate
  for (int i = 0; i < 2 * N; ++i) {
    const int n = i / 2, view = i % 2;
    std::vector<float> own_n(C);
    for (int b = 0; b < C; ++b) own_n[b] = own[n][b].item<float>();
    const auto p =
        draw_sample_params(c, H, W, seed, epoch, ids[n].item<std::int64_t>(), view,
                           ebv[n].item<float>(), psf[n].data_ptr<float>(), 1, own_n.data());
    // Output pixel (py, px) of the padded grid <-> normalised u = 2 p / (P - 1) - 1
    // (align_corners=True); input pixel -> normalised the same way.
    const double ay = (Hp - 1) / 2.0, ax = (Wp - 1) / 2.0;
    const double oy = -R + p.jy - (h - 1) / 2.0, ox = -R + p.jx - (w - 1) / 2.0;
    const double sy = 2.0 / (H - 1), sx = 2.0 / (W - 1);
    // iy = cy + m00 (ay uy + ay + oy) + m01 (ax ux + ax + ox)
    th[i][1][1] = static_cast<float>(sy * p.m00 * ay);
    th[i][1][0] = static_cast<float>(sy * p.m01 * ax);
    th[i][1][2] = static_cast<float>(sy * (p.cy + p.m00 * (ay + oy) + p.m01 * (ax + ox)) - 1);
    th[i][0][1] = static_cast<float>(sx * p.m10 * ay);
    th[i][0][0] = static_cast<float>(sx * p.m11 * ax);
    th[i][0][2] = static_cast<float>(sx * (p.cx + p.m10 * (ay + oy) + p.m11 * (ax + ox)) - 1);
    for (int b = 0; b < C; ++b) {
      ga[i][b][0][0] = p.gain[b];
      sa[i][b][0][0] = p.noise_sigma[b];
      const int r = p.radius[b];
      if (r == 0) {
        ta[i * C + b][R] = 1;
        continue;
      }
      double sum = 0;
      for (int k = -r; k <= r; ++k)
        sum += std::exp(-0.5 * k * k / (p.blur_sigma[b] * p.blur_sigma[b]));
      for (int k = -r; k <= r; ++k)
        ta[i * C + b][R + k] =
            static_cast<float>(std::exp(-0.5 * k * k / (p.blur_sigma[b] * p.blur_sigma[b])) / sum);
    }
  }
  auto x = images.repeat_interleave(2, 0) * gain;  // (2N, C, H, W), reddened
  auto grid = at::affine_grid_generator(theta, {2 * N, C, Hp, Wp}, true);
  x = at::grid_sampler(x, grid, 0 /*bilinear*/, 2 /*reflection*/, true);
  x = x.reshape({1, 2 * N * C, Hp, Wp});
  const std::vector<std::int64_t> one{1, 1}, zero{0, 0};
  x = at::conv2d(x, taps.reshape({2 * N * C, 1, 1, K}), c10::optional<at::Tensor>(), one, zero, one,
                 2 * N * C);
  x = at::conv2d(x, taps.reshape({2 * N * C, 1, K, 1}), c10::optional<at::Tensor>(), one, zero, one,
                 2 * N * C);
  x = x.reshape({2 * N, C, h, w});
  if (c.noise) x = x + torch::randn({2 * N, C, h, w}) * sigma;
  if (c.stretch) {
    auto sc = torch::from_blob(const_cast<float*>(c.stretch_scale), {1, C, 1, 1}).clone();
    auto t = x * sc + c.stretch_m;
    auto I = t.clamp_min(0).mean(1, true);
    auto f = torch::asinh(c.stretch_q * I) / std::sqrt(c.stretch_q) /
             torch::where(I == 0, torch::full_like(I, 1e-6), I);
    x = (t * f).clamp(0, 1);
  }
  return x;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

// Minor page faults of the process so far: fresh large allocations fault on first touch.
double minor_faults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_minflt);
}

double copy_bandwidth() {
  const std::size_t n = std::size_t(1) << 26;  // 256 MiB of floats
  std::vector<float> a(n, 1.0f), b(n, 0.0f);
  double best = 0;
  for (int r = 0; r < 5; ++r) {
    const auto t0 = clock_type::now();
    std::memcpy(b.data(), a.data(), n * sizeof(float));
    const double s = seconds_since(t0);
    best = std::max(best, 2.0 * n * sizeof(float) / s);  // read + write
  }
  if (b[n / 2] != 1.0f) std::abort();
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"fused Kokkos augmentation vs LibTorch ops"};
  int batch = 64, iters = 15, input = 152, crop = 96, threads = 1;
  app.add_option("--batch", batch);
  app.add_option("--iters", iters);
  app.add_option("--input", input);
  app.add_option("--crop", crop);
  app.add_option("--threads", threads, "LibTorch intra-op threads (Kokkos: Serial backend)");
  std::vector<int> augment_threads_list;
  app.add_option("--augment-threads", augment_threads_list,
                 "augment.threads counts to time side by side (wall clock), e.g. 1,2")
      ->delimiter(',');
  std::string only;
  app.add_option("--only", only, "time just one side (profiling): fused | libtorch");
  std::vector<std::string> off;
  app.add_option(
      "--off", off,
      "steps to switch off (profiling): reddening flips rotation scale blur jitter noise stretch");
  CLI11_PARSE(app, argc, argv);
  try {
    // Both sides allocate from a heap that keeps freed memory, so the comparison is of compute.
    // With glibc's defaults, large blocks (LibTorch's 35 MB repeated input, fresh outputs) come
    // from new mmaps and fault on every batch, depending on what ran before: 2-3x slower on
    // some machines, and the ratio swings from run to run. The pipeline avoids this for the
    // fused side with a view_pool.
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    kokkos_scope kokkos;
    torch::set_num_threads(threads);
    torch::NoGradGuard no_grad;

    auto cfg = augment_config::decals();
    cfg.input_size = input;
    cfg.crop_h = cfg.crop_w = crop;
    for (const auto& o : off) {
      bool* flag = o == "reddening"  ? &cfg.reddening
                   : o == "flips"    ? &cfg.flips
                   : o == "rotation" ? &cfg.rotation
                   : o == "scale"    ? &cfg.scale
                   : o == "blur"     ? &cfg.blur
                   : o == "jitter"   ? &cfg.jitter
                   : o == "noise"    ? &cfg.noise
                   : o == "stretch"  ? &cfg.stretch
                                     : nullptr;
      if (!flag) throw std::runtime_error("--off: unknown step " + o);
      *flag = false;
    }
    const int C = cfg.bands;
    // Galaxy-like batch: a Gaussian blob plus sky noise, from Philox.
    auto images = torch::empty({batch, C, input, input});
    float* px = images.data_ptr<float>();
    for (std::int64_t i = 0; i < images.numel(); i += 4) {
      float z[4];
      noise_block(rng::stream_key{1, 0, 0, 0, rng::user}, static_cast<std::uint32_t>(i / 4), z);
      for (int j = 0; j < 4 && i + j < images.numel(); ++j) {
        const auto k = i + j;
        const int y = static_cast<int>(k / input % input), x = static_cast<int>(k % input);
        const float dy = y - input / 2.0f, dx = x - input / 2.0f;
        px[k] = 0.3f * std::exp(-(dx * dx + 2 * dy * dy) / 50.0f) + 0.004f * z[j];
      }
    }
    // As the shard reader does for its batch buffers: without huge pages the fused side ran at
    // 21 or 29 ms per batch depending on where the heap lay (TLB misses on the input).
    advise_huge_pages(images.data_ptr(), static_cast<std::size_t>(images.nbytes()));
    auto ids = torch::arange(batch, torch::kInt64);
    auto ebv = torch::full({batch}, 0.03f);
    auto psf = torch::full({batch, C}, 1.3f);

    // Sanity: with noise off the two implementations compute the same chain.
    if (only.empty()) {
      auto quiet = cfg;
      quiet.noise = false;
      auto fused = augment_two_views(quiet, images, ids, ebv, psf, 3, 0);
      auto ref = torch_chain(quiet, images, ids, ebv, psf, 3, 0);
      auto f = torch::stack({fused.view1, fused.view2}, 1).reshape_as(ref);
      fmt::print("check: max |fused - libtorch| (noise off) = {:.2e}\n",
                 (f - ref).abs().max().item<float>());
    }

    // The sides run interleaved, one batch each in turn, and each reports its median: on a
    // shared machine a slow spell then hits all sides alike instead of whichever ran during it.
    view_pool pool(2);
    struct side {
      const char* name;
      std::function<void()> run;
      std::vector<double> cpu{}, wall{}, faults{};
    };
    std::vector<side> sides;
    if (only != "libtorch") {
      sides.push_back({"fused, new outputs",
                       [&] {
                         auto v = augment_two_views(cfg, images, ids, ebv, psf, 3, 1);
                         if (v.view1.numel() == 0) std::abort();
                       },
                       {},
                       {},
                       {}});
      sides.push_back({"fused, pooled outputs",
                       [&] {
                         const auto v = pool.acquire(batch, C, crop, crop, images.options());
                         augment_two_views_into(cfg, images, ids, ebv, psf, 3, 1, v);
                       },
                       {},
                       {},
                       {}});
    }
    if (only != "fused")
      sides.push_back({"libtorch ops",
                       [&] {
                         auto v = torch_chain(cfg, images, ids, ebv, psf, 3, 1);
                         if (v.numel() == 0) std::abort();
                       },
                       {},
                       {},
                       {}});
    std::vector<std::unique_ptr<kernels::augment_threads>> thread_pools;
    std::vector<view_pool> thread_outputs;
    thread_outputs.reserve(augment_threads_list.size());
    const std::size_t first_threaded = sides.size();
    if (only != "libtorch")
      for (int n : augment_threads_list) {
        thread_pools.push_back(std::make_unique<kernels::augment_threads>(n));
        thread_outputs.emplace_back(2);
        auto* tp = thread_pools.back().get();
        auto* op = &thread_outputs.back();
        // The views must not depend on the thread count: compare once with the plain call.
        const auto plain = augment_two_views(cfg, images, ids, ebv, psf, 3, 1);
        const auto threaded = augment_two_views(cfg, images, ids, ebv, psf, 3, 1, *tp);
        if (!torch::equal(plain.view1, threaded.view1) ||
            !torch::equal(plain.view2, threaded.view2))
          throw std::runtime_error(fmt::format("augment.threads = {} changed the views", n));
        sides.push_back({n == 1   ? "augment.threads 1"
                         : n == 2 ? "augment.threads 2"
                         : n == 3 ? "augment.threads 3"
                                  : "augment.threads 4+",
                         [&cfg, &images, &ids, &ebv, &psf, tp, op, batch, C, crop] {
                           const auto v = op->acquire(batch, C, crop, crop, images.options());
                           augment_two_views_into(cfg, images, ids, ebv, psf, 3, 1, v, *tp);
                         },
                         {},
                         {},
                         {}});
      }
    for (auto& s : sides) s.run();  // warm-up
    for (int i = 0; i < iters; ++i)
      for (auto& s : sides) {
        const double f0 = minor_faults(), c0 = cpu_seconds();
        const auto t0 = clock_type::now();
        s.run();
        s.wall.push_back(seconds_since(t0));
        s.cpu.push_back(cpu_seconds() - c0);
        s.faults.push_back(minor_faults() - f0);
      }
    const double bw = copy_bandwidth();
    // Compulsory traffic per input image: the image read once, two views written.
    const double bytes = 4.0 * C * (double(input) * input + 2.0 * crop * crop);
    fmt::print(
        "augment {}x{}x{} -> 2 views {}x{}, batch {}, {} iters (median), torch threads {}, "
        "Kokkos {}\n",
        C, input, input, crop, crop, batch, iters, threads, Kokkos::DefaultExecutionSpace::name());
    for (const auto& s : sides)
      fmt::print(
          "  {:<22}: {:8.1f} images/s ({:.2f} ms CPU/batch, {:.2f} ms wall, {:.0f} page "
          "faults/batch)\n",
          s.name, batch / median(s.cpu), 1e3 * median(s.cpu), 1e3 * median(s.wall),
          median(s.faults));
    for (std::size_t k = first_threaded; k < sides.size(); ++k)
      fmt::print("  {:<22}: {:8.1f} image pairs/s by the wall clock ({} threads)\n", sides[k].name,
                 batch / median(sides[k].wall), augment_threads_list[k - first_threaded]);
    if (only.empty()) {  // sides 0-2: fused new, fused pooled, libtorch
      const double t = median(sides[2].cpu);
      fmt::print("  speed-up vs libtorch  : {:.2f}x new outputs, {:.2f}x pooled (target >= 5x)\n",
                 t / median(sides[0].cpu), t / median(sides[1].cpu));
    }
    fmt::print("  bytes/image           : {:.0f} (read {}x{}x{} f32 once, write 2 views)\n", bytes,
               C, input, input);
    fmt::print("  copy bandwidth        : {:.2f} GB/s (memcpy, read+write)\n", bw / 1e9);
    for (const auto& s : sides)
      fmt::print("  {:<22}: {:.2f}% of it\n", s.name, 100 * batch / median(s.cpu) * bytes / bw);
  } catch (const std::exception& e) {  // bad archive, config or option: one line, exit 1
    fmt::print(stderr, "bench_augment: {}\n", e.what());
    return 1;
  }
  return 0;
}
