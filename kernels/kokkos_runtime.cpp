#include "kernels/kokkos_runtime.hpp"

#include <Kokkos_Core.hpp>

#include <cstdlib>
#include <mutex>
#include <string>

#include "skyssl/core/error.hpp"

namespace skyssl::kernels {

namespace {
std::mutex init_mutex;
bool finalize_registered = false;
int init_device = -1;

void finalize_at_exit() {
  if (Kokkos::is_initialized()) Kokkos::finalize();
}

void initialize_on(int cuda_device) {
#if KOKKOS_VERSION >= 30700
  Kokkos::InitializationSettings settings;
  if (cuda_device >= 0) settings.set_device_id(cuda_device);
  Kokkos::initialize(settings);
#else
  Kokkos::InitArguments args;
  if (cuda_device >= 0) args.device_id = cuda_device;
  Kokkos::initialize(args);
#endif
  init_device = cuda_device;
}

constexpr bool has_device_backend() {
#if defined(KOKKOS_ENABLE_CUDA) || defined(KOKKOS_ENABLE_HIP) || defined(KOKKOS_ENABLE_SYCL)
  return true;
#else
  return false;
#endif
}
}  // namespace

void ensure_initialized(int cuda_device) {
  std::lock_guard<std::mutex> lock(init_mutex);
  if (Kokkos::is_initialized()) {
    if (has_device_backend() && cuda_device >= 0 && cuda_device != init_device)
      throw config_error("Kokkos was initialised on device " + std::to_string(init_device) +
                         " but this rank trains on cuda:" + std::to_string(cuda_device) +
                         " (initialise it through kernels::ensure_initialized(device) first)");
    return;
  }
  initialize_on(cuda_device);
  if (!finalize_registered) {
    std::atexit(finalize_at_exit);
    finalize_registered = true;
  }
}

kokkos_scope::kokkos_scope() {
  std::lock_guard<std::mutex> lock(init_mutex);
  if (Kokkos::is_initialized()) return;
  initialize_on(-1);
  owner_ = true;
}

kokkos_scope::kokkos_scope(deferred_t) {
  std::lock_guard<std::mutex> lock(init_mutex);
  owner_ = !Kokkos::is_initialized();
}

kokkos_scope::~kokkos_scope() {
  if (owner_ && Kokkos::is_initialized()) Kokkos::finalize();
}

}  // namespace skyssl::kernels
