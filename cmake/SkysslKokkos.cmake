# Finds Kokkos and repairs Debian's Trilinos-packaged config, whose Kokkos::kokkos target
# carries the include dir /usr/lib/include (does not exist). On Perlmutter or a
# hand-built Kokkos the config is correct and nothing is changed.
find_package(Kokkos REQUIRED)
if(TARGET Kokkos::kokkos)
  get_target_property(_kk_inc Kokkos::kokkos INTERFACE_INCLUDE_DIRECTORIES)
  set(_kk_ok FALSE)
  foreach(_d IN LISTS _kk_inc)
    if(EXISTS "${_d}/Kokkos_Core.hpp")
      set(_kk_ok TRUE)
    endif()
  endforeach()
  if(NOT _kk_ok)
    find_path(SKYSSL_KOKKOS_INCLUDE_DIR Kokkos_Core.hpp
              PATHS /usr/include/trilinos ${Kokkos_DIR}/../../../include
              PATH_SUFFIXES trilinos kokkos)
    if(NOT SKYSSL_KOKKOS_INCLUDE_DIR)
      message(FATAL_ERROR "Kokkos found at ${Kokkos_DIR} but Kokkos_Core.hpp is not in its include dirs (${_kk_inc})")
    endif()
    message(STATUS "Kokkos: fixing include dir ${_kk_inc} -> ${SKYSSL_KOKKOS_INCLUDE_DIR}")
    set_target_properties(Kokkos::kokkos PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${SKYSSL_KOKKOS_INCLUDE_DIR}")
  endif()
endif()
set(_kk_backends "")
foreach(_b SERIAL OPENMP CUDA HIP THREADS)
  if(Kokkos_ENABLE_${_b} OR KOKKOS_ENABLE_${_b})
    list(APPEND _kk_backends ${_b})
  endif()
endforeach()
if(COMMAND kokkos_check)
  foreach(_b SERIAL OPENMP CUDA)
    kokkos_check(DEVICES ${_b} RETURN_VALUE _has)
    if(_has)
      list(APPEND _kk_backends ${_b})
    endif()
  endforeach()
endif()
list(REMOVE_DUPLICATES _kk_backends)
set(SKYSSL_KOKKOS_BACKENDS "${_kk_backends}")

# With a CUDA Kokkos, Kokkos' launcher (kokkos_launch_compiler) sends a compile to nvcc_wrapper
# only when the word after it is the C++ compiler itself; behind a compiler launcher (ccache)
# it runs the command unchanged, and the host compiler then gets nvcc's flags and CUDA code.
# So no compiler launcher in a CUDA build.
if("CUDA" IN_LIST SKYSSL_KOKKOS_BACKENDS AND CMAKE_CXX_COMPILER_LAUNCHER)
  message(STATUS "Kokkos with CUDA: compiling without ${CMAKE_CXX_COMPILER_LAUNCHER} "
                 "(Kokkos' nvcc_wrapper redirect does not pass through a compiler launcher)")
  set(CMAKE_CXX_COMPILER_LAUNCHER "")
endif()

# With a CUDA Kokkos, the sources that include Kokkos headers (kernels/, their tests and the
# augmentation benchmark) compile through Kokkos' launcher (nvcc_wrapper) and everything else
# keeps the host compiler; with a host-only Kokkos this does nothing. docs/gpu.md.
function(skyssl_kokkos_compilation target)
  if("CUDA" IN_LIST SKYSSL_KOKKOS_BACKENDS AND COMMAND kokkos_compilation)
    kokkos_compilation(TARGET ${target})
  endif()
endfunction()

# The GPU architecture of this Kokkos, checked against SKYSSL_KOKKOS_ARCH (the perlmutter
# preset: AMPERE80). Recorded in the cache for jobscripts/perlmutter/smoke.sbatch.
include(SkysslKokkosGpuArch)
set(SKYSSL_KOKKOS_ARCH "" CACHE STRING
    "GPU architecture Kokkos must be built for, e.g. AMPERE80 (A100); empty: not checked")
get_target_property(_kk_inc Kokkos::kokkos INTERFACE_INCLUDE_DIRECTORIES)
find_file(SKYSSL_KOKKOS_CONFIG_H KokkosCore_config.h PATHS ${_kk_inc} ${Kokkos_DIR}/../../../include
          PATH_SUFFIXES kokkos trilinos NO_DEFAULT_PATH)
skyssl_kokkos_gpu_arch("${SKYSSL_KOKKOS_CONFIG_H}" _kk_gpu_arch)
set(SKYSSL_KOKKOS_GPU_ARCH "${_kk_gpu_arch}" CACHE INTERNAL "GPU architecture of the Kokkos found")
skyssl_check_kokkos_gpu_arch("${_kk_gpu_arch}" "${SKYSSL_KOKKOS_ARCH}" "${Kokkos_DIR}")
