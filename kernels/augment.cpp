// Torch-facing wrapper: checks the tensors, wraps them as unmanaged views and runs the kernels
// in the execution space of the tensors' device (host tensors: the host space; CUDA tensors:
// Kokkos' CUDA space on LibTorch's current stream).
#include "kernels/augment.hpp"

#include <memory>
#include <string>
#include <type_traits>

#include "kernels/augment_kernels.hpp"
#include "kernels/augment_threads.hpp"
#include "kernels/serial_team.hpp"
#include "kernels/torch_views.hpp"
#include "kernels/view_pool.hpp"
#include "skyssl/core/error.hpp"

#if defined(KOKKOS_ENABLE_CUDA)
#include <c10/cuda/CUDAStream.h>
#endif

namespace skyssl::kernels {

namespace {

void check_shape(const augment_config& cfg, const torch::Tensor& images) {
  const auto C = images.size(1), H = images.size(2), W = images.size(3);
  if (C != cfg.bands)
    throw data_error("augment: images have " + std::to_string(C) + " channels but the config (" +
                     cfg.band_names + ") has " + std::to_string(cfg.bands) + " bands");
  if (H < cfg.crop_h || W < cfg.crop_w)
    throw data_error("augment: images " + std::to_string(H) + "x" + std::to_string(W) +
                     " are smaller than the crop " + std::to_string(cfg.crop_h) + "x" +
                     std::to_string(cfg.crop_w));
  if (cfg.input_size != 0 && (H != cfg.input_size || W != cfg.input_size))
    throw data_error("augment: images are " + std::to_string(H) + "x" + std::to_string(W) +
                     " but augment.input_size = " + std::to_string(cfg.input_size));
}

std::string enabled_spaces() {
  std::string s = std::string("host (") + Kokkos::DefaultHostExecutionSpace::name() + ")";
#if defined(KOKKOS_ENABLE_CUDA)
  s += ", cuda";
#endif
  return s;
}

#if defined(KOKKOS_ENABLE_CUDA)
// LibTorch's current stream on the tensor's device: the kernels are ordered with the ops that
// produced the input and the ones that read the output without any synchronisation.
Kokkos::Cuda cuda_space_for(const torch::Tensor& images) {
  const int kokkos_device = Kokkos::Cuda().cuda_device();
  if (images.device().index() != kokkos_device)
    throw data_error("augment: images are on " + images.device().str() +
                     " but Kokkos was initialised on cuda:" + std::to_string(kokkos_device) +
                     " (one device per rank: see docs/gpu.md)");
  return Kokkos::Cuda(c10::cuda::getCurrentCUDAStream(images.device().index()).stream());
}
#endif

// Runs f(exec) with the execution space whose memory holds `images`: the host space for CPU
// tensors, Kokkos' CUDA space for CUDA tensors. The kernels are the same templates either way.
template <class F>
void on_device_of(const torch::Tensor& images, F&& f) {
  if (!images.defined()) throw data_error("augment: images is an undefined tensor");
  if (images.device().is_cpu()) {
    Kokkos::DefaultHostExecutionSpace exec;
    f(exec);
    exec.fence();  // the caller reads the outputs next (host spaces run synchronously anyway)
    return;
  }
#if defined(KOKKOS_ENABLE_CUDA)
  if (images.device().is_cuda()) {
    f(cuda_space_for(images));  // stream-ordered: no fence
    return;
  }
#endif
  throw data_error("augment: images are on " + images.device().str() +
                   " but this build runs the kernels on " + enabled_spaces() +
                   " only (a CUDA device needs a Kokkos built with CUDA: docs/gpu.md)");
}
}  // namespace

namespace {

// Host tensors with more than one thread: the samples in contiguous sub-batches, one per
// thread, each run by the kernels' own per-sample body (two_views_body). With an OpenMP Kokkos
// (4.1+) the sub-batches are an OpenMP instance of that many threads with teams of one
// (Kokkos' dispatch, so no private team set-up); otherwise std::threads of augment_threads,
// each with its own Serial team (serial_team.hpp).
template <class Exec>
bool run_on_threads(const two_views_body<Exec>& body, augment_threads* threads) {
  if (!threads || threads->size() <= 1 || !detail::host_space<Exec>()) return false;
#if defined(KOKKOS_ENABLE_OPENMP) && KOKKOS_VERSION >= 40100
  if constexpr (std::is_same_v<Exec, Kokkos::OpenMP>) {
    static thread_local std::unique_ptr<Kokkos::OpenMP> instance;
    if (!instance || instance->concurrency() != threads->size())
      instance = std::make_unique<Kokkos::OpenMP>(threads->size());
    Kokkos::TeamPolicy<Kokkos::OpenMP> policy(*instance, body.N, 1, 1);
    policy.set_scratch_size(1, Kokkos::PerTeam(body.team_bytes),
                            Kokkos::PerThread(body.thread_bytes));
    Kokkos::parallel_for("skyssl::augment::two_views(threads)", policy, body);
    instance->fence();
    return true;
  }
#endif
  // Team of one: what TeamPolicy<Serial>(N, AUTO, 1) reserves for the same body.
  const std::size_t shared = body.team_bytes + body.thread_bytes;
  if constexpr (std::is_same_v<Exec, Kokkos::Serial>) {
    threads->for_ranges(body.N, [&](serial_team& team, std::int64_t lo, std::int64_t hi) {
      team.run(body, static_cast<int>(lo), static_cast<int>(hi), body.N, shared);
    });
  } else {
    throw data_error(std::string("augment.threads > 1 is not supported with the host space ") +
                     Exec::name() + " of this Kokkos build: set augment.threads = 1");
  }
  return true;
}

void augment_into(const augment_config& cfg, const torch::Tensor& images, const torch::Tensor& ids,
                  const torch::Tensor& ebv, const torch::Tensor& psf_fwhm, std::uint64_t seed,
                  std::int64_t epoch, const two_views& out, augment_threads* threads) {
  ensure_initialized();
  cfg.validate();
  on_device_of(images, [&](auto exec) {
    using exec_t = decltype(exec);
    using mem_t = typename exec_t::memory_space;
    auto img = view4<mem_t>(images, "images");
    check_shape(cfg, images);
    const auto N = images.size(0);
    batch_views<mem_t> in{img, view1_i64<mem_t>(ids, "ids"), view1<mem_t>(ebv, "ebv"),
                          view2<mem_t>(psf_fwhm, "psf_fwhm")};
    if (ids.size(0) != N || ebv.size(0) != N || psf_fwhm.size(0) != N ||
        psf_fwhm.size(1) != images.size(1))
      throw data_error("augment: batch of " + std::to_string(N) + " images with ids (" +
                       std::to_string(ids.size(0)) + "), ebv (" + std::to_string(ebv.size(0)) +
                       ") and psf_fwhm (" + std::to_string(psf_fwhm.size(0)) + "x" +
                       std::to_string(psf_fwhm.size(1)) + ")");
    const std::vector<std::int64_t> shape{N, images.size(1), cfg.crop_h, cfg.crop_w};
    for (const auto* o : {&out.view1, &out.view2})
      if (!o->defined() || o->sizes() != torch::IntArrayRef(shape))
        throw data_error("augment: output views must be " + std::to_string(N) + "x" +
                         std::to_string(images.size(1)) + "x" + std::to_string(cfg.crop_h) + "x" +
                         std::to_string(cfg.crop_w));
    const auto o1 = view4<mem_t>(out.view1, "view1"), o2 = view4<mem_t>(out.view2, "view2");
    if (N > 0 && run_on_threads(two_views_body<exec_t>(cfg, in, seed, epoch, o1, o2), threads))
      return;
    augment_two_views(exec, cfg, in, seed, epoch, o1, o2);
  });
}

two_views augment_new(const augment_config& cfg, const torch::Tensor& images,
                      const torch::Tensor& ids, const torch::Tensor& ebv,
                      const torch::Tensor& psf_fwhm, std::uint64_t seed, std::int64_t epoch,
                      augment_threads* threads) {
  on_device_of(images, [&](auto exec) {  // dtype, rank, device and layout first
    view4<typename decltype(exec)::memory_space>(images, "images");
  });
  const auto out =
      new_views(images.size(0), images.size(1), cfg.crop_h, cfg.crop_w, images.options());
  augment_into(cfg, images, ids, ebv, psf_fwhm, seed, epoch, out, threads);
  return out;
}

}  // namespace

void augment_two_views_into(const augment_config& cfg, const torch::Tensor& images,
                            const torch::Tensor& ids, const torch::Tensor& ebv,
                            const torch::Tensor& psf_fwhm, std::uint64_t seed, std::int64_t epoch,
                            const two_views& out) {
  augment_into(cfg, images, ids, ebv, psf_fwhm, seed, epoch, out, nullptr);
}

void augment_two_views_into(const augment_config& cfg, const torch::Tensor& images,
                            const torch::Tensor& ids, const torch::Tensor& ebv,
                            const torch::Tensor& psf_fwhm, std::uint64_t seed, std::int64_t epoch,
                            const two_views& out, augment_threads& threads) {
  augment_into(cfg, images, ids, ebv, psf_fwhm, seed, epoch, out, &threads);
}

two_views augment_two_views(const augment_config& cfg, const torch::Tensor& images,
                            const torch::Tensor& ids, const torch::Tensor& ebv,
                            const torch::Tensor& psf_fwhm, std::uint64_t seed, std::int64_t epoch) {
  return augment_new(cfg, images, ids, ebv, psf_fwhm, seed, epoch, nullptr);
}

two_views augment_two_views(const augment_config& cfg, const torch::Tensor& images,
                            const torch::Tensor& ids, const torch::Tensor& ebv,
                            const torch::Tensor& psf_fwhm, std::uint64_t seed, std::int64_t epoch,
                            augment_threads& threads) {
  return augment_new(cfg, images, ids, ebv, psf_fwhm, seed, epoch, &threads);
}

torch::Tensor center_crop(const augment_config& cfg, const torch::Tensor& images) {
  ensure_initialized();
  cfg.validate();
  torch::Tensor out;
  on_device_of(images, [&](auto exec) {
    using mem_t = typename decltype(exec)::memory_space;
    auto img = view4<mem_t>(images, "images");
    check_shape(cfg, images);
    out = torch::empty({images.size(0), images.size(1), cfg.crop_h, cfg.crop_w}, images.options());
    center_crop(exec, cfg, img, view4<mem_t>(out, "center_crop output"));
  });
  return out;
}

}  // namespace skyssl::kernels
