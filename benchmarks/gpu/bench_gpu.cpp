// Question: on one GPU, does the device path meet issue #12's targets? One run, one table:
//   augment agreement   device kernels vs the host kernels and the plain reference, for the
//                       DECaLS and the SDSS presets
//   augment throughput  device views/s, and the HBM bandwidth the bytes moved take
//   moco step           images/s of the MoCo v2 step per (architecture, precision), the share
//                       of an iteration spent augmenting and copying the input, TFLOP/s
//   nccl round trip     all-reduce + all-gather + broadcast at world size 1 (exact)
// with the targets beside each figure. --cpu runs the same program on the host (small
// sizes; local communicator instead of NCCL) so the whole path is exercised without a GPU.
// Exit status 0 only when every agreement row passes; targets missed are reported, not failed.
//
//   bench_gpu [--cpu] [--batch N] [--iters N] [--warmup N] [--crop N] [--input N]
//                    [--width N] [--archs resnet18,resnet50] [--precisions fp32,bf16,fp16]
//                    [--aug-batch N] [--hbm-tbps X] [--queue K]
// Built by the main CMake build and by scripts/gpu-check-all.sh (no MPI, HDF5 or packaged
// Kokkos needed; docs/gpu.md).
#include <torch/cuda.h>
#include <torch/types.h>
#include <torch/optim/sgd.h>
#include <torch/utils.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/augment.hpp"
#include "kernels/augment_config.hpp"
#include "kernels/kokkos_runtime.hpp"
#include "kernels/reference.hpp"
#include "skyssl/data/synth.hpp"
#include "skyssl/dist/communicator.hpp"
#include "skyssl/dist/device.hpp"
#include "skyssl/dist/local_communicator.hpp"
#include "skyssl/model/autocast.hpp"
#include "skyssl/model/resnet.hpp"
#include "skyssl/moco/engine.hpp"
#include "skyssl/moco/loss_scaler.hpp"
#ifdef SKYSSL_HAVE_NCCL
#include "skyssl/dist/nccl_communicator.hpp"
#include "skyssl/dist/runtime.hpp"
#endif

using namespace skyssl;
using clock_type = std::chrono::steady_clock;

namespace {

struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct bench_options {
  bool cpu = false;
  int batch = 256, iters = 20, warmup = 3;
  int crop = 96, input = 152, width = 64;
  int aug_batch = 1024;
  std::int64_t queue = 65536;
  double hbm_tbps = 4.8;  // H200 SXM: 4.8 TB/s HBM3e (NVIDIA H200 datasheet)
  std::vector<std::string> archs = {"resnet18", "resnet50"};
  std::vector<std::string> precisions = {"fp32", "bf16", "fp16"};
};

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string t; std::getline(in, t, ',');)
    if (!t.empty()) out.push_back(t);
  return out;
}

int positive(const std::string& flag, const std::string& v) {
  char* end = nullptr;
  const long x = std::strtol(v.c_str(), &end, 10);
  if (end == v.c_str() || *end != 0 || x < 1 || x > 1000000000)
    throw usage_error(flag + " must be a positive integer, got '" + v + "'");
  return static_cast<int>(x);
}

bench_options parse(int argc, char** argv) {
  bench_options o;
  bool cpu_sizes = false;
  std::vector<std::string> args(argv + 1, argv + argc);
  for (const auto& a : args)
    if (a == "--cpu") cpu_sizes = true;
  if (cpu_sizes) {  // small enough for a CI machine; flags below still override
    o.cpu = true;
    o.batch = 8;
    o.iters = 2;
    o.warmup = 1;
    o.crop = 64;
    o.input = 100;
    o.width = 16;
    o.aug_batch = 16;
    o.queue = 256;
    o.archs = {"resnet18"};
    o.precisions = {"fp32", "bf16"};
  }
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--cpu") continue;
    if (i + 1 >= args.size()) throw usage_error("unknown flag or missing value: '" + a + "'");
    const std::string v = args[++i];
    if (a == "--batch")
      o.batch = positive(a, v);
    else if (a == "--iters")
      o.iters = positive(a, v);
    else if (a == "--warmup")
      o.warmup = positive(a, v);
    else if (a == "--crop")
      o.crop = positive(a, v);
    else if (a == "--input")
      o.input = positive(a, v);
    else if (a == "--width")
      o.width = positive(a, v);
    else if (a == "--aug-batch")
      o.aug_batch = positive(a, v);
    else if (a == "--queue")
      o.queue = positive(a, v);
    else if (a == "--hbm-tbps")
      o.hbm_tbps = std::atof(v.c_str());
    else if (a == "--archs")
      o.archs = split(v);
    else if (a == "--precisions")
      o.precisions = split(v);
    else
      throw usage_error("unknown flag '" + a + "'");
  }
  for (const auto& arch : o.archs)
    if (arch != "resnet18" && arch != "resnet50")
      throw usage_error("--archs: '" + arch + "' is not resnet18 or resnet50");
  for (const auto& p : o.precisions) {
    if (p != "fp32" && p != "bf16" && p != "fp16")
      throw usage_error("--precisions: '" + p + "' is not fp32, bf16 or fp16");
    if (p == "fp16" && o.cpu)
      throw usage_error("--precisions: fp16 needs CUDA (LibTorch's CPU autocast has no fp16)");
  }
  if (o.input < o.crop) throw usage_error("--input must be at least --crop");
  if (o.queue % o.batch != 0) throw usage_error("--queue must be a multiple of --batch");
  if (!(o.hbm_tbps > 0)) throw usage_error("--hbm-tbps must be positive");
  return o;
}

struct row {
  std::string check, figure, target, verdict;
};

void print_table(const std::vector<row>& rows) {
  std::size_t w[3] = {5, 6, 6};
  for (const auto& r : rows) {
    w[0] = std::max(w[0], r.check.size());
    w[1] = std::max(w[1], r.figure.size());
    w[2] = std::max(w[2], r.target.size());
  }
  auto line = [&](const std::string& a, const std::string& b, const std::string& c,
                  const std::string& d) {
    std::printf("| %-*s | %-*s | %-*s | %s\n", static_cast<int>(w[0]), a.c_str(),
                static_cast<int>(w[1]), b.c_str(), static_cast<int>(w[2]), c.c_str(), d.c_str());
  };
  line("check", "figure", "target", "verdict");
  line(std::string(w[0], '-'), std::string(w[1], '-'), std::string(w[2], '-'), "-------");
  for (const auto& r : rows) line(r.check, r.figure, r.target, r.verdict);
}

std::string fmt_num(const char* f, double x) {
  char b[64];
  std::snprintf(b, sizeof b, f, x);
  return b;
}

// A batch of synthetic galaxies in cfg's bands (data/synth: Philox, deterministic): `distinct`
// rendered, tiled to n with distinct ids (a view depends on the id, so tiles differ).
struct host_batch {
  torch::Tensor images, ids, ebv, psf;
};
host_batch make_batch(const kernels::augment_config& cfg, int n, int distinct) {
  data::synth_options so;
  so.seed = 17;
  so.size = cfg.input_size;
  so.bands.clear();
  for (int b = 0; b < cfg.bands; ++b) so.bands.emplace_back(1, cfg.band_names[b]);
  const int size = cfg.input_size;
  const int c = static_cast<int>(so.bands.size());
  host_batch b;
  b.images = torch::empty({n, c, size, size}, torch::kFloat32);
  b.ids = torch::empty({n}, torch::kInt64);
  b.ebv = torch::empty({n}, torch::kFloat32);
  b.psf = torch::empty({n, c}, torch::kFloat32);
  std::vector<float> scratch;
  const std::int64_t per = static_cast<std::int64_t>(c) * size * size;
  for (int i = 0; i < std::min(n, distinct); ++i) {
    const auto g = data::draw_galaxy(so, i);
    data::render_galaxy(so, g, b.images.data_ptr<float>() + i * per, scratch);
    b.ebv[i] = g.ebv;
    for (int k = 0; k < c; ++k) b.psf[i][k] = g.psf_fwhm[static_cast<std::size_t>(k)];
  }
  for (int i = distinct; i < n; ++i) {
    b.images[i].copy_(b.images[i % distinct]);
    b.ebv[i] = b.ebv[i % distinct].item<float>();
    b.psf[i].copy_(b.psf[i % distinct]);
  }
  for (int i = 0; i < n; ++i) b.ids[i] = 1000 + 7 * static_cast<std::int64_t>(i);
  return b;
}

host_batch to_device(const host_batch& h, const torch::Device& d) {
  return {h.images.to(d), h.ids.to(d), h.ebv.to(d), h.psf.to(d)};
}

// Largest |a - b| / max(|b|, 0.25): stretched values lie in [0, 1], and nvcc fuses
// multiply-adds and its sinf/expf are 1-2 ulp off, which the stretch magnifies ~25x, so an
// absolute bound would either pass garbage near zero or fail honest rounding at the top. NaN or
// a shape mismatch is infinitely wrong.
double max_rel_diff(const torch::Tensor& a, const torch::Tensor& b) {
  if (a.sizes() != b.sizes() || a.numel() == 0) return INFINITY;
  const auto x = a.cpu().to(torch::kFloat64), y = b.cpu().to(torch::kFloat64);
  const auto d = (x - y).abs() / y.abs().clamp_min(0.25);
  if (d.isnan().any().item<bool>()) return INFINITY;
  return d.max().item<double>();
}

void sync(const torch::Device& d) {
  if (d.is_cuda()) torch::cuda::synchronize(d.index());
}

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

// Device views against the plain reference (and, on a GPU, against the host kernels), for one
// preset (`name`): DECaLS (3 bands, every step) and SDSS (5 bands, its subset of steps).
row agreement_row(const std::string& name, const kernels::augment_config& cfg,
                  const torch::Device& dev, int* failures) {
  const double tol = 2e-4;
  const int n = 4;
  const auto h = make_batch(cfg, n, n);
  const auto d = to_device(h, dev);
  const auto got = kernels::augment_two_views(cfg, d.images, d.ids, d.ebv, d.psf, 11, 3);
  sync(dev);
  const int c = cfg.bands;
  auto ref1 = torch::empty({n, c, cfg.crop_h, cfg.crop_w}), ref2 = torch::empty_like(ref1);
  for (int i = 0; i < n; ++i) {
    const auto img = h.images[i].contiguous();
    const auto in =
        kernels::reference::from_buffer(img.data_ptr<float>(), c, cfg.input_size, cfg.input_size);
    const auto psf = h.psf[i].contiguous();
    for (int view = 0; view < 2; ++view) {
      const auto r = kernels::reference::augment_view(
          cfg, in, static_cast<std::uint64_t>(h.ids[i].item<std::int64_t>()),
          h.ebv[i].item<float>(), psf.data_ptr<float>(), 11, 3, view);
      auto& dst = view == 0 ? ref1 : ref2;
      std::copy(r.px.begin(), r.px.end(), dst[i].data_ptr<float>());
    }
  }
  double worst = std::max(max_rel_diff(got.view1, ref1), max_rel_diff(got.view2, ref2));
  std::string what = "vs reference " + fmt_num("%.2e", worst);
  if (dev.is_cuda()) {
    const auto host = kernels::augment_two_views(cfg, h.images, h.ids, h.ebv, h.psf, 11, 3);
    const double dh =
        std::max(max_rel_diff(got.view1, host.view1), max_rel_diff(got.view2, host.view2));
    what = "vs host kernels " + fmt_num("%.2e", dh) + ", " + what;
    worst = std::max(worst, dh);
  }
  const bool ok = worst < tol;
  *failures += !ok;
  return {"augment agreement " + name + " (" + (dev.is_cuda() ? "cuda" : "host") + ")", what,
          "max rel diff < 2e-4", ok ? "PASS" : "FAIL"};
}

struct aug_figures {
  double views_per_s = 0, gb_per_s = 0, seconds_per_image = 0;
};

aug_figures time_augment(const kernels::augment_config& cfg, const torch::Device& dev, int n,
                         int iters) {
  const auto d = to_device(make_batch(cfg, n, std::min(n, 64)), dev);
  kernels::two_views out{torch::empty({n, cfg.bands, cfg.crop_h, cfg.crop_w}, d.images.options()),
                         torch::empty({n, cfg.bands, cfg.crop_h, cfg.crop_w}, d.images.options())};
  kernels::augment_two_views_into(cfg, d.images, d.ids, d.ebv, d.psf, 11, 0, out);
  sync(dev);
  const auto t0 = clock_type::now();
  for (int i = 0; i < iters; ++i)
    kernels::augment_two_views_into(cfg, d.images, d.ids, d.ebv, d.psf, 11, 1 + i, out);
  sync(dev);
  const double s = seconds_since(t0) / iters;
  // Bytes the kernels must move at least: the input once, both views written, the per-sample
  // metadata (ids, E(B-V), PSF).
  const double bytes =
      4.0 * n * cfg.bands * (cfg.input_size * cfg.input_size + 2.0 * cfg.crop_h * cfg.crop_w) +
      n * (8.0 + 4.0 + 4.0 * cfg.bands);
  return {2.0 * n / s, bytes / s / 1e9, s / n};
}

struct step_figures {
  double step_s = 0, aug_s = 0, copy_s = 0;
};

// One MoCo iteration as the device path runs it, phase by phase (synchronised between phases,
// so each is measured alone; the trainer overlaps the copy with the previous step): raw batch
// host -> device, two views augmented on the device, train_step.
step_figures time_step(const bench_options& o, const kernels::augment_config& cfg,
                       const torch::Device& dev, const std::string& arch,
                       const std::string& precision, dist::communicator& comm,
                       std::int64_t* macs_per_image) {
  model::resnet_options mo;
  mo.depth = arch == "resnet50" ? 50 : 18;
  mo.width = o.width;
  mo.in_channels = cfg.bands;
  moco::moco_options co;
  co.K = o.queue;
  co.dim = 128;
  co.seed = 3;
  torch::manual_seed(5);
  moco::engine e(mo, co, o.batch, comm, dev);
  for (auto* enc : {&e.encoder_q(), &e.encoder_k()})
    (*enc)->set_autocast(model::autocast_dtype(precision));
  e.set_channels_last(dev.is_cuda());
  if (precision == "fp16") e.set_loss_scaler(moco::loss_scaler({true, 65536.0, 2000}));
  torch::optim::SGD opt(e.encoder_q()->parameters(),
                        torch::optim::SGDOptions(0.03).momentum(0.9).weight_decay(1e-4));
  const std::int64_t q = e.encoder_q()->forward_macs(cfg.crop_h, cfg.crop_w);
  *macs_per_image = 3 * q + q;  // query forward + backward (~2x forward), key forward

  auto host = make_batch(cfg, o.batch, std::min(o.batch, 64));
  if (dev.is_cuda()) host.images = host.images.pin_memory();
  kernels::two_views views;
  step_figures f;
  for (int i = 0; i < o.warmup + o.iters; ++i) {
    const bool timed = i >= o.warmup;
    auto t = clock_type::now();
    auto images = host.images.to(dev, /*non_blocking=*/true);
    auto ids = host.ids.to(dev), ebv = host.ebv.to(dev), psf = host.psf.to(dev);
    sync(dev);
    if (timed) f.copy_s += seconds_since(t);
    t = clock_type::now();
    views = kernels::augment_two_views(cfg, images, ids, ebv, psf, 11, i);
    sync(dev);
    if (timed) f.aug_s += seconds_since(t);
    t = clock_type::now();
    const auto r = e.train_step(views.view1, views.view2, 0, i, opt);  // reads the loss back
    sync(dev);
    if (timed) f.step_s += seconds_since(t);
    if (!std::isfinite(r.loss))
      throw std::runtime_error(arch + " " + precision + ": loss is not finite");
  }
  f.step_s /= o.iters;
  f.aug_s /= o.iters;
  f.copy_s /= o.iters;
  return f;
}

// All-reduce, all-gather and broadcast at world size 1 must hand back exactly what went in,
// for device tensors and host tensors (the NCCL backend stages those through pinned memory).
row round_trip_row(dist::communicator& comm, const torch::Device& dev, int* failures) {
  bool ok = true;
  std::string why;
  try {
    for (const auto& where : {dev, torch::Device(torch::kCPU)}) {
      const auto ref = torch::arange(1000, torch::TensorOptions().dtype(torch::kFloat32)) * 0.5;
      auto t = ref.to(where).clone();
      comm.all_reduce_sum(t);
      ok = ok && torch::equal(t.cpu(), ref);
      comm.all_reduce_mean(t);
      ok = ok && torch::equal(t.cpu(), ref);
      const auto g = comm.all_gather(t);
      ok = ok && torch::equal(g.cpu(), ref);
      comm.broadcast(t, 0);
      ok = ok && torch::equal(t.cpu(), ref);
      if (!ok && why.empty()) why = " (" + where.str() + " tensors differ)";
    }
  } catch (const std::exception& e) {
    ok = false;
    why = std::string(" (") + e.what() + ")";
  }
  *failures += !ok;
  return {comm.backend() + " round trip, world 1",
          std::string("all-reduce, all-gather, broadcast: ") + (ok ? "exact" : "wrong") + why,
          "bit-exact", ok ? "PASS" : "FAIL"};
}

int run(const bench_options& o) {
  int failures = 0;
  std::vector<row> rows;
  torch::Device dev(torch::kCPU);
  int cuda_index = -1;
  if (!o.cpu) {
    if (!torch::cuda::is_available())
      throw usage_error(
          "no CUDA device for LibTorch (a CPU-only LibTorch, or no GPU visible: "
          "CUDA_VISIBLE_DEVICES); run with --cpu for the host check");
    cuda_index = dist::cuda_device_for(dist::local_rank());
    dev = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(cuda_index));
  }
  kernels::ensure_initialized(cuda_index);
  auto cfg = kernels::augment_config::decals();
  cfg.input_size = o.input;
  cfg.crop_h = cfg.crop_w = o.crop;
  cfg.validate();
  std::printf("bench_gpu: %s, batch %d, %d iterations (+%d warm-up), %dx%dx%d -> 2x%dx%d\n",
              o.cpu ? "CPU mode" : ("CUDA device " + std::to_string(cuda_index)).c_str(), o.batch,
              o.iters, o.warmup, cfg.bands, o.input, o.input, o.crop, o.crop);

  rows.push_back(agreement_row("decals", cfg, dev, &failures));
  auto sdss = kernels::augment_config::sdss();  // its own 107 -> 64 geometry, 5 bands
  sdss.validate();
  rows.push_back(agreement_row("sdss", sdss, dev, &failures));
  const auto aug = time_augment(cfg, dev, o.aug_batch, o.iters);
  rows.push_back({"augment throughput", fmt_num("%.0f views/s", aug.views_per_s),
                  ">= 1,000,000 views/s (H200)",
                  o.cpu                    ? "n/a (cpu)"
                  : aug.views_per_s >= 1e6 ? "meets"
                                           : "BELOW"});
  rows.push_back(
      {"augment bandwidth",
       fmt_num("%.1f GB/s", aug.gb_per_s) +
           (o.cpu ? std::string()
                  : fmt_num(" = %.1f%% of HBM", 100 * aug.gb_per_s / (1e3 * o.hbm_tbps))),
       fmt_num("of %.1f TB/s HBM", o.hbm_tbps), "info"});

  dist::local_communicator local;
  std::unique_ptr<dist::communicator> nccl;
#ifdef SKYSSL_HAVE_NCCL
  if (!o.cpu) nccl = dist::make_nccl_communicator(cuda_index);
#endif
  dist::communicator& comm = nccl ? *nccl : static_cast<dist::communicator&>(local);

  double r50_bf16_step = 0;
  for (const auto& arch : o.archs)
    for (const auto& prec : o.precisions) {
      std::int64_t macs = 0;
      const auto f = time_step(o, cfg, dev, arch, prec, comm, &macs);
      const double iter = f.step_s + f.aug_s + f.copy_s;
      const double ips = o.batch / f.step_s;
      const double tflops = 2.0 * static_cast<double>(macs) * ips / 1e12;
      const std::string name = arch + (o.width != 64 ? "/w" + std::to_string(o.width) : "");
      const bool r50_bf16 = arch == "resnet50" && prec == "bf16" && o.width == 64;
      if (r50_bf16) r50_bf16_step = f.step_s;
      rows.push_back({"moco step " + name + " " + prec,
                      fmt_num("%.0f img/s", ips) + fmt_num(", %.3g TFLOP/s", tflops) +
                          fmt_num(" (%.2f GFLOP/img)", 2.0 * static_cast<double>(macs) / 1e9) +
                          fmt_num(", aug %.1f%%", 100 * f.aug_s / iter) +
                          fmt_num(", copy %.1f%%", 100 * f.copy_s / iter),
                      r50_bf16 ? ">= 15,000 img/s, aug <= 3%" : "-",
                      !r50_bf16 || o.cpu                       ? "info"
                      : ips >= 15000 && f.aug_s / iter <= 0.03 ? "meets"
                                                               : "BELOW"});
    }
  if (r50_bf16_step > 0) {
    // The augmentation share of a ResNet-50 step at the throughput measured above.
    const double aug_s = o.batch * aug.seconds_per_image;
    const double share = aug_s / (aug_s + r50_bf16_step);
    rows.push_back({"augment share of resnet50 bf16 step", fmt_num("%.1f%%", 100 * share), "<= 3%",
                    o.cpu           ? "info"
                    : share <= 0.03 ? "meets"
                                    : "BELOW"});
  }
  rows.push_back(round_trip_row(comm, dev, &failures));
  if (o.cpu)
    rows.push_back({"nccl backend", "not run in --cpu mode (local communicator above)",
                    "world 1 on a GPU", "n/a (cpu)"});
  print_table(rows);
  std::printf("%s\n", failures ? "GPU-BENCH FAILED" : "GPU-BENCH PASSED");
  return failures ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    dist::runtime mpi(&argc, &argv);  // NCCL's bootstrap (a world of one without mpirun)
    const auto o = parse(argc, argv);
    kernels::kokkos_scope kokkos(kernels::kokkos_scope::deferred);
    return run(o);
  } catch (const usage_error& e) {
    std::fprintf(stderr, "bench_gpu: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_gpu: %s\n", e.what());
    return 1;
  }
}
