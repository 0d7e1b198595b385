# cmake -DSKYSSL_SOURCE_DIR=... -DWORK=... -P configure_checks_test.cmake
# Fake installs (empty files with the right names are all find_path / find_library look for)
# in the layouts Perlmutter's modules use, and a tiny project that includes the checks.
cmake_minimum_required(VERSION 3.21)
file(REMOVE_RECURSE ${WORK})
set(mods ${SKYSSL_SOURCE_DIR}/cmake)

# expect(WHAT CONDITION...): CONDITION as if() reads it.
macro(expect what)
  if(NOT (${ARGN}))
    message(FATAL_ERROR "FAIL: ${what}")
  endif()
  message(STATUS "ok: ${what}")
endmacro()

# --- Kokkos' GPU architecture from KokkosCore_config.h
include(${mods}/SkysslKokkosGpuArch.cmake)
file(WRITE ${WORK}/kk-ampere/KokkosCore_config.h
     "#define KOKKOS_ENABLE_CUDA\n#define KOKKOS_ARCH_AMPERE\n#define KOKKOS_ARCH_AMPERE80\n/* #undef KOKKOS_ARCH_HOPPER90 */\n")
file(WRITE ${WORK}/kk-hopper/KokkosCore_config.h "#define KOKKOS_ARCH_HOPPER\n#define KOKKOS_ARCH_HOPPER90\n")
file(WRITE ${WORK}/kk-host/KokkosCore_config.h "#define KOKKOS_ENABLE_SERIAL\n/* #undef KOKKOS_ARCH_AMPERE80 */\n#define KOKKOS_ARCH_AVX2\n")
skyssl_kokkos_gpu_arch(${WORK}/kk-ampere/KokkosCore_config.h a)
expect("AMPERE80 read from an A100 build (got '${a}')" a STREQUAL AMPERE80)
skyssl_kokkos_gpu_arch(${WORK}/kk-hopper/KokkosCore_config.h h)
expect("HOPPER90 read from an H100 build (got '${h}')" h STREQUAL HOPPER90)
skyssl_kokkos_gpu_arch(${WORK}/kk-host/KokkosCore_config.h n)
expect("no GPU architecture in a host build (got '${n}')" NOT n)

# The check itself is fatal: run it in its own cmake -P and read its verdict.
function(run_check found expected rc_out msg_out)
  file(WRITE ${WORK}/check.cmake
       "include(${mods}/SkysslKokkosGpuArch.cmake)\nskyssl_check_kokkos_gpu_arch(\"${found}\" \"${expected}\" /opt/kokkos)\n")
  execute_process(COMMAND ${CMAKE_COMMAND} -P ${WORK}/check.cmake RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_QUIET)
  string(REGEX REPLACE "[ \n]+" " " err "${err}")  # CMake wraps its messages
  set(${rc_out} ${rc} PARENT_SCOPE)
  set(${msg_out} "${err}" PARENT_SCOPE)
endfunction()
run_check(HOPPER90 AMPERE80 rc msg)
expect("a HOPPER90 Kokkos under the AMPERE80 preset stops the configure step, naming the fix" NOT rc EQUAL 0 AND msg MATCHES "built for HOPPER90.*asks for AMPERE80.*no kernel image.*Kokkos_ARCH_AMPERE80=ON")
run_check("" AMPERE80 rc msg)
expect("a host-only Kokkos under the AMPERE80 preset is fatal" NOT rc EQUAL 0 AND msg MATCHES "host-only Kokkos")
run_check(AMPERE80 AMPERE80 rc msg)
expect("a matching Kokkos passes" rc EQUAL 0)
run_check("" "" rc msg)
expect("no expectation (CPU preset): nothing checked" rc EQUAL 0)

# --- NCCL in the NVHPC layout of Perlmutter's cudatoolkit module, found through CRAY_NVIDIA_PREFIX
set(nv ${WORK}/nvhpc/Linux_x86_64/23.9)
foreach(f comm_libs/nccl/include/nccl.h comm_libs/nccl/lib/libnccl.so cuda/include/cuda_runtime_api.h cuda/lib64/libcudart.so)
  file(WRITE ${nv}/${f} "")
endforeach()
file(WRITE ${WORK}/proj/CMakeLists.txt "cmake_minimum_required(VERSION 3.21)
project(nccl_probe LANGUAGES NONE)
list(APPEND CMAKE_MODULE_PATH ${mods})
include(SkysslNccl)
message(STATUS \"HAVE=\${SKYSSL_HAVE_NCCL} LIB=\${SKYSSL_NCCL_LIBRARY}\")
")
function(configure name rc_out log_out)
  execute_process(COMMAND ${CMAKE_COMMAND} -S ${WORK}/proj -B ${WORK}/build-${name} ${ARGN}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  string(REGEX REPLACE "[ \n]+" " " log "${out}${err}")
  set(${rc_out} ${rc} PARENT_SCOPE)
  set(${log_out} "${log}" PARENT_SCOPE)
endfunction()
set(ENV{CUDA_HOME} "")
set(ENV{CUDA_PATH} "")
set(ENV{NCCL_HOME} "")
set(ENV{NCCL_DIR} "")
set(ENV{NVHPC_ROOT} "")
set(ENV{CRAY_NVIDIA_PREFIX} ${nv})
configure(nvhpc rc log -DSKYSSL_REQUIRE_NCCL=ON)
expect("NCCL found under \$CRAY_NVIDIA_PREFIX/comm_libs/nccl" rc EQUAL 0 AND log MATCHES "HAVE=TRUE LIB=${nv}/comm_libs/nccl/lib/libnccl.so")
# Nothing anywhere (the search re-rooted into an empty directory): fatal under the preset's
# SKYSSL_REQUIRE_NCCL, a plain OFF otherwise.
set(ENV{CRAY_NVIDIA_PREFIX} "")
file(MAKE_DIRECTORY ${WORK}/empty)
set(noroot -DCMAKE_FIND_ROOT_PATH=${WORK}/empty -DCMAKE_FIND_ROOT_PATH_MODE_INCLUDE=ONLY
    -DCMAKE_FIND_ROOT_PATH_MODE_LIBRARY=ONLY)
configure(missing rc log -DSKYSSL_REQUIRE_NCCL=ON ${noroot})
expect("a missing NCCL stops the perlmutter preset's configure step, naming the module" NOT rc EQUAL 0 AND log MATCHES "NCCL is required.*module load cudatoolkit")
configure(optional rc log ${noroot})
expect("without SKYSSL_REQUIRE_NCCL a missing NCCL only turns the backend off" rc EQUAL 0 AND log MATCHES "HAVE=FALSE")
file(REMOVE_RECURSE ${WORK})
message(STATUS "PASS")
