#!/usr/bin/env bash
# The one GPU check (docs/gpu.md): builds bench_gpu (benchmarks/gpu) alone, with all
# cores, and runs it. It prints one table: CUDA vs host vs plain-reference augmentation agreement
# (DECaLS and SDSS presets), device views/s and HBM share, MoCo step images/s for ResNet-18 and
# ResNet-50 (fp32, bf16, fp16) with the augmentation and input-copy shares and TFLOP/s, and the
# NCCL backend at world size 1, each beside its target.
#
# For a GPU machine with nvcc, NCCL and a CUDA LibTorch (a pip torch is enough) but no MPI,
# HDF5 or Kokkos packages and no network. Nothing is built there but the bench: the Kokkos
# install and the header-only fmt / toml++ are made beforehand, where a Kokkos source tree and
# the Debian packages are, and carried in .deps/ (ignored by git; about 10 MB):
#   KOKKOS_SRC=/path/to/kokkos bash scripts/build-kokkos.sh .deps/kokkos-cuda-hopper90 HOPPER90 OPENMP
#   bash scripts/gpu-check-all.sh --pack-headers            # -> .deps/gpu-headers
#
#   bash scripts/gpu-check-all.sh [bench flags...]
#       on the GPU machine: Kokkos_ROOT, else .deps/kokkos-cuda-<arch> for the GPU's arch
#   bash scripts/gpu-check-all.sh --compile-only
#       the same build against the same CUDA Kokkos and NCCL, without a GPU and with any LibTorch
#       (here: Debian's CPU one): every translation unit of the bench compiled (the Kokkos ones
#       through nvcc), nothing linked
#   bash scripts/gpu-check-all.sh --cpu [bench flags...]
#       the same program on the host (Debian's LibTorch and Kokkos), run with --cpu
#   bash scripts/gpu-check-all.sh --pack-headers [DIR]
#       copies the header-only fmt and toml++ the build needs into DIR (default .deps/gpu-headers)
#
# Environment: TORCH_DIR (LibTorch's Torch cmake dir; default from python3's torch, then
# Debian's), Kokkos_ROOT, KOKKOS_ARCH (default from nvidia-smi: HOPPER90 for 9.x, AMPERE80 for
# 8.0; HOPPER90 for --compile-only without a GPU), NCCL_HOME (default: CUDA_HOME,
# /usr/local/cuda, then the nvidia-nccl wheel beside a pip torch), SKYSSL_HEADERS (default:
# .deps/gpu-headers, then LibTorch's include dirs, then /usr/include), BUILD (default
# build-gpu-bench), JOBS (default nproc). Exit status: the bench's (0 = every agreement row
# passed; missed targets are reported in the table, not failed); 2 for a set-up problem.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD:-$here/build-gpu-bench}
jobs=${JOBS:-$(nproc)}
mode=gpu
die() { echo "gpu-check-all: $*" >&2; exit 2; }

if [[ ${1:-} == --pack-headers ]]; then
  dest=${2:-$here/.deps/gpu-headers}
  src=${HEADERS_FROM:-/usr/include}
  for h in fmt/format-inl.h toml++/toml.h; do
    [[ -f $src/$h ]] || die "no $src/$h (apt-get install libfmt-dev libtomlplusplus-dev, or set HEADERS_FROM)"
  done
  mkdir -p "$dest"
  cp -r "$src/fmt" "$src/toml++" "$dest/"
  echo "gpu-check-all: fmt and toml++ headers in $dest ($(du -sh "$dest" | cut -f1))"
  exit 0
fi
case ${1:-} in
  --cpu) mode=cpu; shift ;;
  --compile-only) mode=compile; shift ;;
esac

py=${PYTHON:-python3}
cmake_args=(-DCMAKE_BUILD_TYPE=Release)
command -v ccache >/dev/null && cmake_args+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
debian_torch=/usr/lib/x86_64-linux-gnu/cmake/Torch
torch_dir=${TORCH_DIR:-}
if [[ -z $torch_dir ]]; then
  if prefix=$("$py" -c 'import torch; print(torch.utils.cmake_prefix_path)' 2>/dev/null) &&
    [[ -f $prefix/Torch/TorchConfig.cmake ]]; then
    torch_dir=$prefix/Torch
  elif [[ $mode != gpu ]]; then
    torch_dir=$debian_torch
  else
    die "no TORCH_DIR and '$py -c \"import torch\"' failed: point TORCH_DIR at a CUDA LibTorch's share/cmake/Torch"
  fi
fi
[[ -f $torch_dir/TorchConfig.cmake ]] || die "no TorchConfig.cmake in '$torch_dir' (set TORCH_DIR)"

if [[ $mode == cpu ]]; then
  # Host LibTorch and Kokkos (Debian's unless Kokkos_ROOT says otherwise), --cpu sizes.
  cmake_args+=(-DSKYSSL_GPU_BENCH_REQUIRE_CUDA=OFF)
  [[ -n ${Kokkos_ROOT:-} ]] && cmake_args+=(-DKokkos_ROOT="$Kokkos_ROOT")
else
  export PATH=$PATH:${CUDA_HOME:-/usr/local/cuda}/bin
  command -v nvcc >/dev/null || die "nvcc not on PATH (CUDA toolkit; module load cudatoolkit?)"
  if [[ -z ${Kokkos_ROOT:-} ]]; then
    arch=${KOKKOS_ARCH:-}
    if [[ -z $arch ]] && command -v nvidia-smi >/dev/null; then
      cc=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 || true)
      case $cc in 9.*) arch=HOPPER90 ;; 8.0) arch=AMPERE80 ;; 8.6) arch=AMPERE86 ;; esac
    fi
    [[ -z $arch && $mode == compile ]] && arch=HOPPER90
    [[ -n $arch ]] || die "cannot tell the GPU's architecture (no nvidia-smi answer): set KOKKOS_ARCH=HOPPER90|AMPERE80 or Kokkos_ROOT"
    Kokkos_ROOT=$here/.deps/kokkos-cuda-${arch,,}
  fi
  info=$Kokkos_ROOT/skyssl-kokkos.txt
  [[ -x $Kokkos_ROOT/bin/nvcc_wrapper && -f $info ]] ||
    die "no CUDA Kokkos at Kokkos_ROOT=$Kokkos_ROOT (make it where a Kokkos source tree is: KOKKOS_SRC=... bash scripts/build-kokkos.sh $Kokkos_ROOT ${arch:-HOPPER90} OPENMP, and carry it here)"
  # Kokkos' interfaces take std::string: it must have LibTorch's C++ ABI.
  if [[ $mode == gpu ]]; then
    abi=$("$py" -c 'import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))' 2>/dev/null || echo 1)
    kabi=$(sed -n 's/^cxx11_abi //p' "$info")
    [[ $abi == "$kabi" ]] ||
      die "LibTorch uses _GLIBCXX_USE_CXX11_ABI=$abi, the Kokkos at $Kokkos_ROOT $kabi: rebuild it with KOKKOS_CMAKE_ARGS=-DCMAKE_CXX_FLAGS=-D_GLIBCXX_USE_CXX11_ABI=$abi"
  else
    cmake_args+=(-DSKYSSL_GPU_BENCH_REQUIRE_CUDA=OFF)
    # Debian's CPU LibTorch ships c10/cuda's headers without the one LibTorch's build generates
    # (c10/cuda/impl/cuda_cmake_macros.h, one #define): a stand-in, found through CPATH, lets
    # the kernels' c10::cuda stream calls compile. A CUDA LibTorch has the real one.
    for d in /usr/include "$(dirname "$(dirname "$(dirname "$torch_dir")")")/include"; do
      if [[ -f $d/c10/cuda/CUDAMacros.h && ! -f $d/c10/cuda/impl/cuda_cmake_macros.h ]]; then
        mkdir -p "$build/c10-stand-in/c10/cuda/impl"
        echo "#define C10_CUDA_BUILD_SHARED_LIBS" >"$build/c10-stand-in/c10/cuda/impl/cuda_cmake_macros.h"
        export CPATH=$build/c10-stand-in${CPATH:+:$CPATH}
        echo "gpu-check-all: $d/c10/cuda lacks impl/cuda_cmake_macros.h: using the stand-in in $build/c10-stand-in"
        break
      fi
    done
  fi
  # NCCL: CUDA_HOME / /usr/local/cuda / NCCL_HOME, else the one a pip torch brings
  # (site-packages/nvidia/nccl, whose library has only the versioned name).
  cuda_home=${CUDA_HOME:-/usr/local/cuda}
  if [[ -z ${NCCL_HOME:-} && ! -f $cuda_home/include/nccl.h ]]; then
    pip_nccl=$("$py" -c 'import nvidia.nccl as n; print(list(n.__path__)[0])' 2>/dev/null || true)
    if [[ -n $pip_nccl && -f $pip_nccl/include/nccl.h ]]; then
      export NCCL_HOME=$pip_nccl
      lib=$(find "$pip_nccl/lib" -name 'libnccl.so*' 2>/dev/null | head -1)
      [[ -n $lib ]] && cmake_args+=(-DSKYSSL_NCCL_LIBRARY="$lib")
    fi
  fi
  cmake_args+=(-DKokkos_ROOT="$Kokkos_ROOT")
fi
headers=${SKYSSL_HEADERS:-}
if [[ -z $headers ]]; then
  for d in "$here/.deps/gpu-headers" "$(dirname "$(dirname "$(dirname "$torch_dir")")")/include" /usr/include; do
    if [[ -f $d/fmt/format-inl.h && -f $d/toml++/toml.h ]]; then headers=$d; break; fi
  done
fi
[[ -n $headers ]] || die "no fmt/ and toml++/ headers found: make them where they are installed with 'bash scripts/gpu-check-all.sh --pack-headers' and carry .deps/gpu-headers"

echo "gpu-check-all: $mode build in $build, $jobs jobs (Torch $torch_dir, Kokkos ${Kokkos_ROOT:-<system>}, headers $headers)"
SECONDS=0
cmake -S "$here/benchmarks/gpu" -B "$build/bench" "${cmake_args[@]}" -DTorch_DIR="$torch_dir" \
  -DSKYSSL_HEADERS="$headers" >"$build.configure.log" 2>&1 ||
  { cat "$build.configure.log" >&2; die "configure failed (log: $build.configure.log)"; }
grep -- "-- bench_gpu" "$build.configure.log" || true
# --compile-only: every translation unit, but no link (a CPU LibTorch has no libc10_cuda for
# the kernels' c10::cuda stream calls).
targets=()
[[ $mode == compile ]] && targets=(--target skyssl_gpu_bench_host skyssl_gpu_bench_kernels bench_gpu.cpp.o)
cmake --build "$build/bench" -j "$jobs" "${targets[@]}" >"$build.build.log" 2>&1 ||
  { tail -40 "$build.build.log" >&2; die "build failed (log: $build.build.log)"; }
echo "gpu-check-all: configured and built in ${SECONDS} s"
if [[ $mode == compile ]]; then
  echo "gpu-check-all: compiled, not linked (--compile-only; log $build.build.log)"
  exit 0
fi
[[ $mode == cpu ]] && set -- --cpu "$@"
SECONDS=0
rc=0
"$build/bench/bench_gpu" "$@" || rc=$?
echo "gpu-check-all: ran in ${SECONDS} s, exit status $rc"
exit "$rc"
