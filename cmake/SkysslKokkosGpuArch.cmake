# skyssl_kokkos_gpu_arch(HEADER OUT): the GPU architecture a Kokkos install was built for, read
# from its KokkosCore_config.h (#define KOKKOS_ARCH_AMPERE80 -> AMPERE80); empty for a host-only
# Kokkos. A Kokkos built for another GPU than the one that runs it fails only at run time, with
# "no kernel image is available", so the configure step compares it with SKYSSL_KOKKOS_ARCH.
function(skyssl_kokkos_gpu_arch header out)
  set(_arch "")
  if(EXISTS "${header}")
    file(STRINGS "${header}" _defs REGEX
         "^#define[ \t]+KOKKOS_ARCH_(KEPLER|MAXWELL|PASCAL|VOLTA|TURING|AMPERE|ADA|HOPPER|BLACKWELL)[0-9]+")
    foreach(_d IN LISTS _defs)
      string(REGEX REPLACE "^#define[ \t]+KOKKOS_ARCH_([A-Z]+[0-9]+).*" "\\1" _a "${_d}")
      list(APPEND _arch ${_a})
    endforeach()
  endif()
  set(${out} "${_arch}" PARENT_SCOPE)
endfunction()

# skyssl_check_kokkos_gpu_arch(FOUND EXPECTED WHERE): fatal unless EXPECTED is empty or FOUND
# holds exactly EXPECTED, with the way to fix it.
function(skyssl_check_kokkos_gpu_arch found expected where)
  if(expected STREQUAL "" OR found STREQUAL expected)
    return()
  endif()
  if(found STREQUAL "")
    set(found "no GPU architecture (a host-only Kokkos)")
  endif()
  message(FATAL_ERROR
    "Kokkos at ${where} is built for ${found}, but SKYSSL_KOKKOS_ARCH (the preset) asks for "
    "${expected}: kernels would fail at run time with \"no kernel image is available\". Build "
    "Kokkos for it (scripts/build-kokkos.sh; Kokkos_ARCH_${expected}=ON) and point KOKKOS_ROOT "
    "at that install, or set SKYSSL_KOKKOS_ARCH to the GPU this build is for.")
endfunction()
