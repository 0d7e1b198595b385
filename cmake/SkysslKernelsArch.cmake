# CPU instruction set for kernels/ (the CPU path of the augmentation kernels).
#   -DSKYSSL_KERNELS_ARCH=native      (default) the build machine's CPU
#   -DSKYSSL_KERNELS_ARCH=x86-64-v3   a portable baseline (AVX2), or any -march= value
#   -DSKYSSL_KERNELS_ARCH=            the compiler's default
# Measured on an AVX-512 machine (docs/augmentations.md): native ~20 ms per batch of 64,
# AVX2 ~90 ms. Build on the kind of node you run on (Perlmutter: on a compute node).
include(CheckCXXCompilerFlag)
set(SKYSSL_KERNELS_ARCH "native" CACHE STRING "-march= value for kernels/ (empty: compiler default)")

function(skyssl_kernels_arch target)
  if(SKYSSL_KERNELS_ARCH STREQUAL "")
    return()
  endif()
  check_cxx_compiler_flag("-march=${SKYSSL_KERNELS_ARCH}" _skyssl_march_ok)
  if(NOT _skyssl_march_ok)
    message(FATAL_ERROR "SKYSSL_KERNELS_ARCH=${SKYSSL_KERNELS_ARCH}: the compiler rejects "
                        "-march=${SKYSSL_KERNELS_ARCH}; pass another value or an empty one")
  endif()
  target_compile_options(${target} PRIVATE -march=${SKYSSL_KERNELS_ARCH})
  if(SKYSSL_KERNELS_ARCH STREQUAL "native" AND EXISTS /proc/cpuinfo)
    # ccache keys on the command line, where "native" names no CPU: a cache shared with another
    # CPU would hand back objects with instructions it lacks. Put the CPU in the command line.
    file(STRINGS /proc/cpuinfo _cpu REGEX "^(model name|flags)" LIMIT_COUNT 2)
    string(MD5 _cpu_id "${_cpu}")
    target_compile_definitions(${target} PRIVATE SKYSSL_BUILD_CPU=${_cpu_id})
  endif()
endfunction()
