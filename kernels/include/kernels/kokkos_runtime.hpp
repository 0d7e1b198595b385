#pragma once
// Kokkos lifetime for apps and tests: initialised once per process, finalised at exit after
// every view is gone (Kokkos forbids views outliving finalize and a second initialize).
namespace skyssl::kernels {

// Initialises Kokkos if nobody has; registers finalize to run at process exit. `cuda_device`
// (>= 0) is the device a CUDA Kokkos build runs on (dist::cuda_device_for: the same index
// LibTorch and NCCL use); asking for a device other than the one Kokkos was initialised on
// throws. Host-only builds ignore it.
void ensure_initialized(int cuda_device = -1);

// RAII for a main(): initialises on construction (if needed) and finalises on destruction if
// it was the one that initialised. Destroy it after every tensor/view that kernels touched.
// With `deferred`, initialisation is left to the first ensure_initialized() (which knows the
// device), and the scope still finalises at its end.
class kokkos_scope {
 public:
  struct deferred_t {};
  static constexpr deferred_t deferred{};
  kokkos_scope();
  explicit kokkos_scope(deferred_t);
  ~kokkos_scope();
  kokkos_scope(const kokkos_scope&) = delete;
  kokkos_scope& operator=(const kokkos_scope&) = delete;

 private:
  bool owner_ = false;
};

}  // namespace skyssl::kernels
