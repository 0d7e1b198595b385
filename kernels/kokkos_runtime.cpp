#include "kernels/kokkos_runtime.hpp"

#include <Kokkos_Core.hpp>

#include <cstdlib>
#include <mutex>

namespace skyssl::kernels {

namespace {
std::mutex init_mutex;
bool finalize_registered = false;

void finalize_at_exit() {
  if (Kokkos::is_initialized()) Kokkos::finalize();
}

// Kokkos::initialize(argc, argv) has the same signature in Kokkos 3 and 4.
void initialize_plain() {
  int argc = 1;
  char name[] = "skyssl";
  char* argv[] = {name, nullptr};
  Kokkos::initialize(argc, argv);
}
}  // namespace

void ensure_initialized() {
  std::lock_guard<std::mutex> lock(init_mutex);
  if (Kokkos::is_initialized()) return;
  initialize_plain();
  if (!finalize_registered) {
    std::atexit(finalize_at_exit);
    finalize_registered = true;
  }
}

kokkos_scope::kokkos_scope() {
  std::lock_guard<std::mutex> lock(init_mutex);
  if (Kokkos::is_initialized()) return;
  initialize_plain();
  owner_ = true;
}

kokkos_scope::~kokkos_scope() {
  if (owner_ && Kokkos::is_initialized()) Kokkos::finalize();
}

}  // namespace skyssl::kernels
