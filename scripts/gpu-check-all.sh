#!/usr/bin/env bash
# The one-command GPU check (issue #12 point 5; docs/gpu.md): builds what it needs and runs
# bench_gpu (benchmarks/gpu), which prints one table: CUDA vs host augmentation
# agreement, device augmentation views/s and HBM share, MoCo step images/s for ResNet-18 and
# ResNet-50 (fp32, bf16, fp16) with the augmentation and input-copy shares and TFLOP/s, and the
# NCCL backend at world size 1, each beside its target. For a GPU box with nvcc, NCCL and a
# CUDA LibTorch (a pip torch is enough) but no MPI, HDF5 or Kokkos packages; no network.
#
#   KOKKOS_SRC=/path/to/kokkos bash scripts/gpu-check-all.sh [bench flags...]
#       builds Kokkos (CUDA + OpenMP) with scripts/build-kokkos.sh into $BUILD/kokkos, once
#   Kokkos_ROOT=/path/to/kokkos-install bash scripts/gpu-check-all.sh [bench flags...]
#       uses an installed CUDA Kokkos instead
#   bash scripts/gpu-check-all.sh --cpu [bench flags...]
#       the same program on the host, against Debian's LibTorch and Kokkos (this machine)
#   bash scripts/gpu-check-all.sh --configure-only [...]
#       stops after CMake's configure (a dry run of the build logic)
#   bash scripts/gpu-check-all.sh --pack-headers DIR
#       copies the header-only fmt and toml++ this build needs into DIR (run it where they are
#       installed, e.g. /usr/include on Debian, and carry DIR to the GPU box with Kokkos)
#
# Environment: TORCH_DIR (LibTorch's Torch cmake dir; default from python3's torch), NCCL_HOME
# (default: CUDA_HOME, /usr/local/cuda, then the nvidia-nccl wheel beside a pip torch),
# SKYSSL_HEADERS (fmt/ and toml++/; default: shared/gpu-headers, then LibTorch's include dirs,
# then /usr/include), KOKKOS_ARCH (default from nvidia-smi: HOPPER90 for 9.x, AMPERE80 for 8.0),
# BUILD (default build-gpu-bench), JOBS (default nproc). Exit status: the bench's (0 = every
# agreement row passed; missed targets are reported in the table, not failed).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD:-$here/build-gpu-bench}
jobs=${JOBS:-$(nproc)}
mode=gpu
configure_only=0
die() { echo "gpu-check-all: $*" >&2; exit 2; }

if [[ ${1:-} == --pack-headers ]]; then
  dest=${2:?usage: gpu-check-all.sh --pack-headers DIR}
  src=${HEADERS_FROM:-/usr/include}
  for h in fmt/format-inl.h toml++/toml.h; do
    [[ -f $src/$h ]] || die "no $src/$h (apt-get install libfmt-dev libtomlplusplus-dev, or set HEADERS_FROM)"
  done
  mkdir -p "$dest"
  cp -r "$src/fmt" "$src/toml++" "$dest/"
  echo "gpu-check-all: fmt and toml++ headers in $dest ($(du -sh "$dest" | cut -f1)); on the GPU box: SKYSSL_HEADERS=$dest"
  exit 0
fi
while [[ $# -gt 0 ]]; do
  case $1 in
    --cpu) mode=cpu; shift ;;
    --configure-only) configure_only=1; shift ;;
    *) break ;;
  esac
done

py=${PYTHON:-python3}
cmake_args=(-DCMAKE_BUILD_TYPE=Release)
command -v ccache >/dev/null && cmake_args+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
if [[ $mode == cpu ]]; then
  # Debian's CPU LibTorch and host Kokkos: the same sources and program, --cpu sizes.
  torch_dir=${TORCH_DIR:-/usr/lib/x86_64-linux-gnu/cmake/Torch}
  cmake_args+=(-DSKYSSL_GPU_BENCH_REQUIRE_CUDA=OFF)
  [[ -n ${Kokkos_ROOT:-} ]] && cmake_args+=(-DKokkos_ROOT="$Kokkos_ROOT")
else
  command -v nvcc >/dev/null || die "nvcc not on PATH (CUDA toolkit; module load cudatoolkit?)"
  if [[ -z ${TORCH_DIR:-} ]]; then
    prefix=$("$py" -c 'import torch; print(torch.utils.cmake_prefix_path)' 2>/dev/null) ||
      die "no TORCH_DIR and '$py -c \"import torch\"' failed: point TORCH_DIR at a CUDA LibTorch's share/cmake/Torch"
    torch_dir=$prefix/Torch
  else
    torch_dir=$TORCH_DIR
  fi
  # Kokkos must use LibTorch's C++ ABI (std::string in its interfaces).
  abi=$("$py" -c 'import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))' 2>/dev/null || echo 1)
  if [[ -z ${Kokkos_ROOT:-} ]]; then
    [[ -n ${KOKKOS_SRC:-} ]] || die "set KOKKOS_SRC to a Kokkos source tree (3.7+; built once into $build/kokkos) or Kokkos_ROOT to an installed CUDA Kokkos"
    arch=${KOKKOS_ARCH:-}
    if [[ -z $arch ]] && command -v nvidia-smi >/dev/null; then
      cc=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 || true)
      case $cc in 9.*) arch=HOPPER90 ;; 8.0) arch=AMPERE80 ;; 8.6) arch=AMPERE86 ;; 7.0) arch=VOLTA70 ;; esac
    fi
    [[ -n $arch ]] || die "cannot tell the GPU's architecture (no nvidia-smi answer): set KOKKOS_ARCH=HOPPER90|AMPERE80|..."
    export Kokkos_ROOT=$build/kokkos
    if [[ ! -f $Kokkos_ROOT/.skyssl-built-$arch-abi$abi ]]; then
      KOKKOS_CMAKE_ARGS="-DCMAKE_CXX_FLAGS=-D_GLIBCXX_USE_CXX11_ABI=$abi" BUILD=$build/kokkos-build \
        bash "$here/scripts/build-kokkos.sh" "$Kokkos_ROOT" "$arch" OPENMP
      touch "$Kokkos_ROOT/.skyssl-built-$arch-abi$abi"
    fi
  fi
  # NCCL: CUDA_HOME / /usr/local/cuda / NCCL_HOME, else the one a pip torch brings
  # (site-packages/nvidia/nccl, whose library has only the versioned name).
  cuda_home=${CUDA_HOME:-/usr/local/cuda}
  if [[ -z ${NCCL_HOME:-} && ! -f $cuda_home/include/nccl.h ]]; then
    pip_nccl=$("$py" -c 'import nvidia.nccl as n; print(list(n.__path__)[0])' 2>/dev/null || true)
    if [[ -n $pip_nccl && -f $pip_nccl/include/nccl.h ]]; then
      export NCCL_HOME=$pip_nccl
      lib=$(ls "$pip_nccl"/lib/libnccl.so* 2>/dev/null | head -1)
      [[ -n $lib ]] && cmake_args+=(-DSKYSSL_NCCL_LIBRARY="$lib")
    fi
  fi
  [[ -x $Kokkos_ROOT/bin/nvcc_wrapper ]] || die "no bin/nvcc_wrapper under Kokkos_ROOT=$Kokkos_ROOT (not a CUDA Kokkos)"
  cmake_args+=(-DKokkos_ROOT="$Kokkos_ROOT")
fi
[[ -f $torch_dir/TorchConfig.cmake ]] || die "no TorchConfig.cmake in '$torch_dir' (set TORCH_DIR)"
headers=${SKYSSL_HEADERS:-}
if [[ -z $headers ]]; then
  for d in "$here/shared/gpu-headers" "$(dirname "$(dirname "$(dirname "$torch_dir")")")/include" /usr/include; do
    if [[ -f $d/fmt/format-inl.h && -f $d/toml++/toml.h ]]; then headers=$d; break; fi
  done
fi
[[ -n $headers ]] || die "no fmt/ and toml++/ headers found: make them where they are installed with 'bash scripts/gpu-check-all.sh --pack-headers DIR' and set SKYSSL_HEADERS=DIR"

echo "gpu-check-all: $mode build in $build (Torch $torch_dir, Kokkos ${Kokkos_ROOT:-<system>}, headers $headers)"
cmake -S "$here/benchmarks/gpu" -B "$build/bench" "${cmake_args[@]}" -DTorch_DIR="$torch_dir" \
  -DSKYSSL_HEADERS="$headers" >"$build.configure.log" 2>&1 ||
  { cat "$build.configure.log" >&2; die "configure failed (log: $build.configure.log)"; }
grep -- "-- bench_gpu" "$build.configure.log" || true
[[ $configure_only == 1 ]] && { echo "gpu-check-all: configured (--configure-only)"; exit 0; }
cmake --build "$build/bench" -j "$jobs" >"$build.build.log" 2>&1 ||
  { tail -40 "$build.build.log" >&2; die "build failed (log: $build.build.log)"; }
if [[ $mode == cpu ]]; then
  exec "$build/bench/bench_gpu" --cpu "$@"
fi
exec "$build/bench/bench_gpu" "$@"
