#!/usr/bin/env bash
# Installs what skyssl needs (Debian 12, as root; idempotent), then configures and builds with
# ccache. Both Quick start commands call this first.
#   SKYSSL_BUILD_DIR   build directory (default: build)
#   SKYSSL_JOBS        parallel compile jobs (default: nproc)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${SKYSSL_BUILD_DIR:-$root/build}
jobs=${SKYSSL_JOBS:-$(nproc)}

packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libtorch-dev
  # Debian's default libblas3 is the netlib reference BLAS: LibTorch's matrix products (MoCo's
  # logits against the queue) ran ~6x slower with it. The OpenMP build follows torch's threads.
  libopenblas0-openmp
  libopenmpi-dev openmpi-bin
  libhdf5-openmpi-dev
  libtrilinos-kokkos-dev
  libfmt-dev doctest-dev libcli11-dev libtomlplusplus-dev nlohmann-json3-dev
  libfaiss-dev libcfitsio-dev libpng-dev zlib1g-dev libcsv-dev
  libcpp-httplib-dev  # skyssl-serve
  python3 python3-h5py python3-torch python3-torchvision python3-numpy python3-matplotlib
  python3-yaml
  slurm-wlm munge
  shellcheck  # test_shell_scripts: every tracked shell script
  # tests/cluster and scripts/cluster.sh: emulated hosts (ip netns, veth, bridge, tc netem)
  iproute2
  # libFuzzer harnesses (tests/fuzz, scripts/fuzz.sh): clang with its sanitizer runtimes
  clang-14 libclang-rt-14-dev
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "skyssl setup: installing ${missing[*]}"
  if [ "$(id -u)" != 0 ]; then
    echo "skyssl setup: missing packages and not root; run as root or: apt-get install ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}
export CCACHE_BASEDIR=$root
# A fresh clone in another folder (CI) still hits the cache: paths are relative to the root
# and the build directory is not hashed.
export CCACHE_NOHASHDIR=1
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}
# Precompiled headers (-DSKYSSL_PCH=ON, cmake/SkysslTorchBuild.cmake): ccache caches files
# compiled against one only with these sloppiness settings; the header's content is still hashed.
export CCACHE_SLOPPINESS=${CCACHE_SLOPPINESS:-pch_defines,time_macros,include_file_mtime,include_file_ctime}
# SKYSSL_CMAKE_ARGS holds several arguments separated by spaces (scripts/sanitize.sh): split
# into an array on whitespace, without the glob expansion an unquoted expansion would add.
read -r -a cmake_args <<<"${SKYSSL_CMAKE_ARGS:-}"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "${cmake_args[@]}" >"$build.configure.log" 2>&1 \
  || { cat "$build.configure.log"; exit 1; }
sed -n '/skyssl feature summary/,/^-- $/p' "$build.configure.log"
cmake --build "$build" -j "$jobs"
