# How the targets that link LibTorch are compiled. LibTorch's headers cost ~7 s of a core in every
# file that includes them (<torch/types.h>; all of <torch/torch.h> ~14 s, which no file includes),
# about half of skyssl's files, most of a cold build, so:
#
# Unity builds (SKYSSL_UNITY, on): a LibTorch target's files are compiled in batches of
# SKYSSL_UNITY_BATCH, one translation unit each, so that the headers are parsed once a batch
# instead of once a file. The cost: an edit recompiles its whole batch (turn it off while
# iterating on one file: -DSKYSSL_UNITY=OFF). Files of one batch share a translation unit, so
# names in anonymous namespaces must differ between the files of a target (the build says so
# when they do not).
#
# Precompiled headers (SKYSSL_PCH, off). Measured on this code (user CPU seconds, one
# file each, -O2): a LibTorch-heavy file (model/safetensors.cpp) 37.3 s without, 31.9 s with the
# header (-15%, full -g: the header is 777 MB and loading it costs most of what it saves); a file
# that includes no LibTorch header (data/options.cpp) 1.7 s without, 7.5 s with (4x): a target's
# precompiled header is forced into every one of its files. Over skyssl's mix of files the
# header loses. Two shared precompiled headers: one for libraries (position-independent code) and
# one for executables (tests, apps, benchmarks). GCC ignores a precompiled header whose code-generation
# flags differ from the file's (-Winvalid-pch says so) and parses the headers as text: a
# mismatch costs time, never correctness.
#
# ccache: with sloppiness pch_defines,time_macros (scripts/setup.sh exports it) ccache caches
# files compiled against a precompiled header, keyed by the header's content.
option(SKYSSL_UNITY "Compile LibTorch targets in unity batches (LibTorch's headers parsed once a batch)" ON)
set(SKYSSL_UNITY_BATCH 8 CACHE STRING "Files per unity batch (SKYSSL_UNITY)")
option(SKYSSL_PCH "Precompile LibTorch's and the other heavy headers (slower here: see above)" OFF)

set(SKYSSL_PCH_HEADERS <torch/torch.h> <fmt/format.h> <nlohmann/json.hpp> <string> <vector>
                       <memory> <functional> <map>)

if(SKYSSL_PCH)
  foreach(_kind lib exe)
    add_library(skyssl_pch_${_kind} OBJECT ${PROJECT_SOURCE_DIR}/cmake/pch_anchor.cpp)
    target_link_libraries(skyssl_pch_${_kind} PRIVATE skyssl_torch fmt::fmt
                                                      nlohmann_json::nlohmann_json)
    target_precompile_headers(skyssl_pch_${_kind} PRIVATE ${SKYSSL_PCH_HEADERS})
    # The warning flags of skyssl's targets: -Wpedantic changes predefined macros
    # (__cpp_runtime_arrays), and GCC refuses a header precompiled without it.
    skyssl_warnings(skyssl_pch_${_kind})
  endforeach()
  set_target_properties(skyssl_pch_lib PROPERTIES POSITION_INDEPENDENT_CODE ON)
endif()

# True (in out_var) when `target` links LibTorch, directly or through its dependencies.
function(_skyssl_links_torch target out_var)
  set(_seen "")
  set(_todo ${target})
  set(_found FALSE)
  while(_todo)
    list(POP_FRONT _todo _t)
    if(_t STREQUAL "skyssl_torch")
      set(_found TRUE)
      break()
    endif()
    if(NOT TARGET ${_t} OR _t IN_LIST _seen)
      continue()
    endif()
    list(APPEND _seen ${_t})
    get_target_property(_aliased ${_t} ALIASED_TARGET)
    if(_aliased)
      list(APPEND _todo ${_aliased})
      continue()
    endif()
    foreach(_prop LINK_LIBRARIES INTERFACE_LINK_LIBRARIES)
      get_target_property(_libs ${_t} ${_prop})
      if(_libs)
        foreach(_l IN LISTS _libs)
          string(REGEX REPLACE "^\\$<LINK_ONLY:(.*)>$" "\\1" _l "${_l}")
          list(APPEND _todo ${_l})
        endforeach()
      endif()
    endforeach()
  endwhile()
  set(${out_var} ${_found} PARENT_SCOPE)
endfunction()

# If `target` links LibTorch: compiles it in unity batches (SKYSSL_UNITY) and uses the shared
# precompiled header of its kind (SKYSSL_PCH); a target with code-generation flags of its own
# (kernels: -O3, -march) gets a precompiled header of its own. Deferred to the end of the
# configure step, when the target's options and links are final.
function(skyssl_torch_build target)
  cmake_parse_arguments(B "NO_UNITY" "" "" ${ARGN})
  if(SKYSSL_PCH OR SKYSSL_UNITY)
    # A deferred call expands its arguments when it runs: bake the target's name in now.
    cmake_language(EVAL CODE "cmake_language(DEFER DIRECTORY [[${PROJECT_SOURCE_DIR}]]
                                             CALL _skyssl_torch_build_now [[${target}]] ${B_NO_UNITY})")
  endif()
endfunction()

function(_skyssl_torch_build_now target no_unity)
  _skyssl_links_torch(${target} _torch)
  if(NOT _torch)
    return()
  endif()
  if(SKYSSL_UNITY AND NOT no_unity)
    set_target_properties(${target} PROPERTIES UNITY_BUILD ON
                                               UNITY_BUILD_BATCH_SIZE ${SKYSSL_UNITY_BATCH})
  endif()
  if(NOT SKYSSL_PCH)
    return()
  endif()
  get_target_property(_type ${target} TYPE)
  get_target_property(_opts ${target} COMPILE_OPTIONS)
  if(_opts MATCHES "-march=|-O3")
    target_precompile_headers(${target} PRIVATE ${SKYSSL_PCH_HEADERS})
  elseif(_type STREQUAL "EXECUTABLE")
    target_precompile_headers(${target} REUSE_FROM skyssl_pch_exe)
  else()
    target_precompile_headers(${target} REUSE_FROM skyssl_pch_lib)
  endif()
endfunction()

# skyssl_torch_build for every executable defined in `dir` and the directories below it;
# NO_UNITY: leave unity builds to the caller (tests: tests/CMakeLists.txt compiles each test
# program as one unit, with doctest and LibTorch's glog included in the order they need).
function(skyssl_torch_build_tree dir)
  cmake_parse_arguments(B "NO_UNITY" "" "" ${ARGN})
  set(_flag "")
  if(B_NO_UNITY)
    set(_flag NO_UNITY)
  endif()
  get_property(_targets DIRECTORY ${dir} PROPERTY BUILDSYSTEM_TARGETS)
  foreach(_t IN LISTS _targets)
    get_target_property(_type ${_t} TYPE)
    if(_type STREQUAL "EXECUTABLE")
      skyssl_torch_build(${_t} ${_flag})
    endif()
  endforeach()
  get_property(_subdirs DIRECTORY ${dir} PROPERTY SUBDIRECTORIES)
  foreach(_d IN LISTS _subdirs)
    skyssl_torch_build_tree(${_d} ${_flag})
  endforeach()
endfunction()
