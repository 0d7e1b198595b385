#pragma once
// Cabana's TEST_EXECSPACE habit: a kernel test body is written once, as a doctest template over
// the execution space, and instantiated for every backend this Kokkos build enables
// (exec_spaces). views_in / crop_in run the kernels of kernels/augment_kernels.hpp in that
// space: inputs are deep-copied from host tensors into the space's memory, outputs back, so a
// device backend runs the same body as Serial. Include after tests/support/torch_doctest.hpp.
#include <Kokkos_Core.hpp>

#include <tuple>
#include <utility>

#include "kernels/augment.hpp"
#include "kernels/augment_kernels.hpp"
#include "kernels/kokkos_runtime.hpp"

namespace skyssl::test {

using exec_spaces = decltype(std::tuple_cat(
#if defined(KOKKOS_ENABLE_SERIAL)
    std::declval<std::tuple<Kokkos::Serial>>(),
#endif
#if defined(KOKKOS_ENABLE_OPENMP)
    std::declval<std::tuple<Kokkos::OpenMP>>(),
#endif
#if defined(KOKKOS_ENABLE_THREADS)
    std::declval<std::tuple<Kokkos::Threads>>(),
#endif
#if defined(KOKKOS_ENABLE_CUDA)
    std::declval<std::tuple<Kokkos::Cuda>>(),
#endif
#if defined(KOKKOS_ENABLE_HIP)
    std::declval<std::tuple<Kokkos::Experimental::HIP>>(),
#endif
    std::declval<std::tuple<>>()));
static_assert(std::tuple_size_v<exec_spaces> > 0, "exec_spaces: Kokkos enables no backend");

// The host backends, each of which must give Serial's views bit for bit (the same arithmetic per
// sample, only the work split differs); a device backend is held to a tolerance instead (FMA).
using host_exec_spaces = decltype(std::tuple_cat(
#if defined(KOKKOS_ENABLE_SERIAL)
    std::declval<std::tuple<Kokkos::Serial>>(),
#endif
#if defined(KOKKOS_ENABLE_OPENMP)
    std::declval<std::tuple<Kokkos::OpenMP>>(),
#endif
#if defined(KOKKOS_ENABLE_THREADS)
    std::declval<std::tuple<Kokkos::Threads>>(),
#endif
    std::declval<std::tuple<>>()));

namespace detail {

template <class T, int R>
struct ptr_of {
  using type = typename ptr_of<T*, R - 1>::type;
};
template <class T>
struct ptr_of<T, 0> {
  using type = T;
};

// A managed view in Mem holding a copy of the host tensor t (contiguous, LayoutRight).
template <class Mem, class T, int R>
auto to_space(const torch::Tensor& t, const char* label) {
  using data_t = typename ptr_of<T, R>::type;
  using host_t = Kokkos::View<data_t, Kokkos::LayoutRight, Kokkos::HostSpace,
                              Kokkos::MemoryTraits<Kokkos::Unmanaged>>;
  const auto c = t.contiguous();
  T* ptr = c.data_ptr<T>();
  const auto e = [&](int d) { return static_cast<std::size_t>(c.size(d)); };
  host_t host;
  if constexpr (R == 1) host = host_t(ptr, e(0));
  if constexpr (R == 2) host = host_t(ptr, e(0), e(1));
  if constexpr (R == 4) host = host_t(ptr, e(0), e(1), e(2), e(3));
  Kokkos::View<data_t, Kokkos::LayoutRight, Mem> dev(std::string(label), host.layout());
  Kokkos::deep_copy(dev, host);
  return dev;
}

template <class Mem>
torch::Tensor to_host(const Kokkos::View<float****, Kokkos::LayoutRight, Mem>& v) {
  auto out =
      torch::empty({static_cast<std::int64_t>(v.extent(0)), static_cast<std::int64_t>(v.extent(1)),
                    static_cast<std::int64_t>(v.extent(2)), static_cast<std::int64_t>(v.extent(3))},
                   torch::kFloat32);
  Kokkos::View<float****, Kokkos::LayoutRight, Kokkos::HostSpace,
               Kokkos::MemoryTraits<Kokkos::Unmanaged>>
      host(out.data_ptr<float>(), v.layout());
  Kokkos::deep_copy(host, v);
  return out;
}

}  // namespace detail

// kernels::augment_two_views(Exec, ...) on host tensors; the views come back as host tensors.
template <class Exec>
kernels::two_views views_in(const kernels::augment_config& cfg, const torch::Tensor& images,
                            const torch::Tensor& ids, const torch::Tensor& ebv,
                            const torch::Tensor& psf_fwhm, std::uint64_t seed, std::int64_t epoch) {
  using mem = typename Exec::memory_space;
  kernels::ensure_initialized();
  cfg.validate();
  const auto img = detail::to_space<mem, float, 4>(images, "images");
  const auto id = detail::to_space<mem, std::int64_t, 1>(ids, "ids");
  const auto e = detail::to_space<mem, float, 1>(ebv, "ebv");
  const auto p = detail::to_space<mem, float, 2>(psf_fwhm, "psf_fwhm");
  const kernels::batch_views<mem> in{img, id, e, p};
  const auto n = img.extent(0), c = img.extent(1);
  Kokkos::View<float****, Kokkos::LayoutRight, mem> out1("view1", n, c, cfg.crop_h, cfg.crop_w),
      out2("view2", n, c, cfg.crop_h, cfg.crop_w);
  Exec exec;
  kernels::augment_two_views(exec, cfg, in, seed, epoch, out1, out2);
  exec.fence();
  return {detail::to_host(out1), detail::to_host(out2)};
}

// kernels::center_crop(Exec, ...) on a host tensor.
template <class Exec>
torch::Tensor crop_in(const kernels::augment_config& cfg, const torch::Tensor& images) {
  using mem = typename Exec::memory_space;
  kernels::ensure_initialized();
  cfg.validate();
  const auto img = detail::to_space<mem, float, 4>(images, "images");
  Kokkos::View<float****, Kokkos::LayoutRight, mem> out("center_crop", img.extent(0), img.extent(1),
                                                        cfg.crop_h, cfg.crop_w);
  Exec exec;
  kernels::center_crop(exec, cfg, img, out);
  exec.fence();
  return detail::to_host(out);
}

}  // namespace skyssl::test
