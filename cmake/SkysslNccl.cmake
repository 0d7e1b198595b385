# NCCL + CUDA runtime, optional unless SKYSSL_REQUIRE_NCCL (the perlmutter preset sets it).
# Searched under NCCL_HOME, CUDA_HOME / CUDA_PATH, the NVHPC layout of the Cray cudatoolkit
# module ($CRAY_NVIDIA_PREFIX/comm_libs/nccl, or $NVHPC_ROOT/comm_libs/nccl; its CUDA under
# .../cuda) and /usr/local/cuda. The NCCL communicator backend compiles and links here even
# without a GPU to run it.
option(SKYSSL_ENABLE_NCCL "Build the NCCL communicator backend when NCCL is found" ON)
option(SKYSSL_REQUIRE_NCCL "Fail the configure step when NCCL is not found" OFF)
set(SKYSSL_HAVE_NCCL FALSE)
if(SKYSSL_REQUIRE_NCCL AND NOT SKYSSL_ENABLE_NCCL)
  message(FATAL_ERROR "SKYSSL_REQUIRE_NCCL=ON contradicts SKYSSL_ENABLE_NCCL=OFF")
endif()
if(SKYSSL_ENABLE_NCCL)
  set(_nccl_roots $ENV{NCCL_HOME} $ENV{NCCL_DIR})
  set(_cuda_roots $ENV{CUDA_HOME} $ENV{CUDA_PATH})
  foreach(_nv $ENV{CRAY_NVIDIA_PREFIX} $ENV{NVHPC_ROOT})
    list(APPEND _nccl_roots ${_nv}/comm_libs/nccl)
    list(APPEND _cuda_roots ${_nv}/cuda)
  endforeach()
  # HINTS: the roots the environment names come before the system's directories.
  find_path(SKYSSL_NCCL_INCLUDE_DIR nccl.h HINTS ${_nccl_roots} ${_cuda_roots} PATHS /usr/local/cuda
            PATH_SUFFIXES include)
  find_path(SKYSSL_CUDART_INCLUDE_DIR cuda_runtime_api.h HINTS ${_cuda_roots} PATHS /usr/local/cuda
            PATH_SUFFIXES include targets/x86_64-linux/include)
  find_library(SKYSSL_NCCL_LIBRARY nccl HINTS ${_nccl_roots} ${_cuda_roots} PATHS /usr/local/cuda
               PATH_SUFFIXES lib64 lib)
  find_library(SKYSSL_CUDART_LIBRARY cudart HINTS ${_cuda_roots} PATHS /usr/local/cuda
               PATH_SUFFIXES lib64 lib targets/x86_64-linux/lib)
  if(SKYSSL_NCCL_INCLUDE_DIR AND SKYSSL_CUDART_INCLUDE_DIR AND SKYSSL_NCCL_LIBRARY AND SKYSSL_CUDART_LIBRARY)
    set(SKYSSL_HAVE_NCCL TRUE)
    add_library(skyssl_nccl_deps INTERFACE)
    target_include_directories(skyssl_nccl_deps SYSTEM INTERFACE ${SKYSSL_NCCL_INCLUDE_DIR} ${SKYSSL_CUDART_INCLUDE_DIR})
    target_link_libraries(skyssl_nccl_deps INTERFACE ${SKYSSL_NCCL_LIBRARY} ${SKYSSL_CUDART_LIBRARY})
  endif()
endif()
if(SKYSSL_REQUIRE_NCCL AND NOT SKYSSL_HAVE_NCCL)
  set(_missing "")
  foreach(_v SKYSSL_NCCL_INCLUDE_DIR SKYSSL_NCCL_LIBRARY SKYSSL_CUDART_INCLUDE_DIR SKYSSL_CUDART_LIBRARY)
    if(NOT ${_v})
      list(APPEND _missing ${_v})
    endif()
  endforeach()
  string(JOIN ", " _missing ${_missing})
  message(FATAL_ERROR
    "NCCL is required (SKYSSL_REQUIRE_NCCL=ON, the perlmutter preset) but not found: ${_missing}. "
    "Searched NCCL_HOME='$ENV{NCCL_HOME}', CUDA_HOME='$ENV{CUDA_HOME}', "
    "CRAY_NVIDIA_PREFIX='$ENV{CRAY_NVIDIA_PREFIX}' (comm_libs/nccl, cuda). On Perlmutter: "
    "module load cudatoolkit (sets CRAY_NVIDIA_PREFIX) or module load nccl (sets NCCL_HOME); "
    "elsewhere set NCCL_HOME to the NCCL install. Delete the cached SKYSSL_NCCL_* / "
    "SKYSSL_CUDART_* entries (or the build directory) after fixing it.")
endif()
