#pragma once
// Zero-copy adapter: unmanaged Kokkos views over the storage of contiguous torch tensors in the
// memory space of the execution space (host tensors for Serial/OpenMP, CUDA tensors for CUDA).
// Checks dtype, rank, contiguity and device with messages that name the argument.
#include <Kokkos_Core.hpp>
#include <torch/types.h>

#include <string>

#include "skyssl/core/error.hpp"

namespace skyssl::kernels {

template <class Mem>
inline constexpr bool host_memory = Kokkos::SpaceAccessibility<Kokkos::HostSpace, Mem>::accessible;

template <class Mem>
void check_tensor(const torch::Tensor& t, const char* what, c10::ScalarType dtype, int dim) {
  const std::string name = std::string("augment: ") + what;
  if (!t.defined()) throw data_error(name + " is an undefined tensor");
  if (t.scalar_type() != dtype)
    throw data_error(name + " has dtype " + std::string(c10::toString(t.scalar_type())) +
                     ", expected " + c10::toString(dtype));
  if (t.dim() != dim)
    throw data_error(name + " has " + std::to_string(t.dim()) + " dimensions, expected " +
                     std::to_string(dim));
  if (!t.is_contiguous()) throw data_error(name + " is not contiguous (call .contiguous())");
  if (host_memory<Mem> ? !t.device().is_cpu() : t.device().is_cpu())
    throw data_error(name + " is on " + t.device().str() + " but the Kokkos execution space " +
                     "needs " + (host_memory<Mem> ? "host" : "device") + " memory");
}

template <class T, class Mem>
using unmanaged_view =
    Kokkos::View<T, Kokkos::LayoutRight, Mem, Kokkos::MemoryTraits<Kokkos::Unmanaged>>;

template <class Mem>
unmanaged_view<float****, Mem> view4(const torch::Tensor& t, const char* what) {
  check_tensor<Mem>(t, what, torch::kFloat32, 4);
  return unmanaged_view<float****, Mem>(t.data_ptr<float>(), t.size(0), t.size(1), t.size(2),
                                        t.size(3));
}
template <class Mem>
unmanaged_view<const float**, Mem> view2(const torch::Tensor& t, const char* what) {
  check_tensor<Mem>(t, what, torch::kFloat32, 2);
  return unmanaged_view<const float**, Mem>(t.data_ptr<float>(), t.size(0), t.size(1));
}
template <class Mem>
unmanaged_view<const float*, Mem> view1(const torch::Tensor& t, const char* what) {
  check_tensor<Mem>(t, what, torch::kFloat32, 1);
  return unmanaged_view<const float*, Mem>(t.data_ptr<float>(), t.size(0));
}
template <class Mem>
unmanaged_view<const std::int64_t*, Mem> view1_i64(const torch::Tensor& t, const char* what) {
  check_tensor<Mem>(t, what, torch::kInt64, 1);
  return unmanaged_view<const std::int64_t*, Mem>(t.data_ptr<std::int64_t>(), t.size(0));
}

}  // namespace skyssl::kernels
