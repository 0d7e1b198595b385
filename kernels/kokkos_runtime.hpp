#pragma once
// Kokkos lifetime for apps and tests: initialised once per process, finalised at exit after
// every view is gone (Kokkos forbids views outliving finalize and a second initialize).
namespace skyssl::kernels {

// Initialises Kokkos if nobody has; registers finalize to run at process exit.
void ensure_initialized();

// RAII for a main(): initialises on construction (if needed) and finalises on destruction if
// it was the one that initialised. Destroy it after every tensor/view that kernels touched.
class kokkos_scope {
 public:
  kokkos_scope();
  ~kokkos_scope();
  kokkos_scope(const kokkos_scope&) = delete;
  kokkos_scope& operator=(const kokkos_scope&) = delete;

 private:
  bool owner_ = false;
};

}  // namespace skyssl::kernels
