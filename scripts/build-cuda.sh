#!/usr/bin/env bash
# Build Spillover with the `cuda` feature on a machine that has no CUDA toolkit installed.
#
# candle's `cuda` feature needs, at build time: nvcc (candle-kernels compiles its kernels to PTX and
# a static library), the CUDA headers, and link-time copies of libcuda, libcudart, libcublas,
# libcublasLt, libcurand and libnvrtc (candle-core turns on cudarc's `dynamic-linking`). This script
# takes all of them, pinned to CUDA 13.0, from NVIDIA's PyPI wheels (sha256-verified by pip), unpacks
# them into $SPILLOVER_CUDA_DIR and runs cargo with the environment pointing at them. The driver
# library (libcuda.so.1) is not on PyPI: a link-time stub is generated from cudarc's own bindings
# (every entry point returns CUDA_ERROR_STUB_LIBRARY); at run time the real driver's copy is used.
#
# Usage:
#   scripts/build-cuda.sh [cargo args...]      default: build --release -p spillover --features cuda
#   scripts/build-cuda.sh test -p spillover-model --features cuda --no-run
#   scripts/build-cuda.sh --env                print the exports (eval "$(scripts/build-cuda.sh --env)")
#
# Environment:
#   SPILLOVER_CUDA_DIR   where the toolkit is unpacked (default ~/.cache/spillover/cuda-13.0)
#   CUDA_COMPUTE_CAP     GPU architecture to compile kernels for (default 90: H100/H200)
#
# Running a CUDA build needs an NVIDIA driver that supports CUDA 13.0 (>= 580) and the CUDA 13
# runtime libraries on the loader path, e.g. LD_LIBRARY_PATH="$SPILLOVER_CUDA_DIR/lib".
# PyTorch's cu13 wheels (nvidia/cu13/lib in its site-packages) carry the same libraries.
set -euo pipefail
cd "$(dirname "$0")/.."

cuda_dir="${SPILLOVER_CUDA_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/spillover/cuda-13.0}"

# name==version and the sha256 of its manylinux x86_64 wheel.
wheels=(
  "nvidia-cuda-nvcc==13.0.88 56fe502eb77625a12f25172caa3cdddb4e4c8ba2c8c17dba44b164761b380f03"
  "nvidia-cuda-crt==13.0.88 2c8043c7c9e02492716426e9919fc78d2c5b3b2a7a768a88e952676b08aa55a4"
  "nvidia-nvvm==13.0.88 c5f41ffeb6466944a026dfa5317d7d85355c119bbec279205d22f1869d1054e0"
  "nvidia-cuda-runtime==13.0.96 7f82250d7782aa23b6cfe765ecc7db554bd3c2870c43f3d1821f1d18aebf0548"
  "nvidia-cuda-cccl==13.0.85 e0da7ad981f3a8aff08241b5bfc1af868742a63e2762f53a5171c492ef242649"
  "nvidia-cuda-nvrtc==13.0.88 ad9b6d2ead2435f11cbb6868809d2adeeee302e9bb94bcf0539c7a40d80e8575"
  "nvidia-cublas==13.1.0.3 ee8722c1f0145ab246bccb9e452153b5e0515fd094c3678df50b2a0888b8b171"
  "nvidia-curand==10.4.0.35 1aee33a5da6e1db083fe2b90082def8915f30f3248d5896bcec36a579d941bfc"
)

die() { echo "build-cuda.sh: $*" >&2; exit 1; }

# Downloads, verifies and unpacks the wheels; idempotent (a stamp file records the wheel set).
install_toolkit() {
  local stamp="$cuda_dir/.wheels" want
  want="$(printf '%s\n' "${wheels[@]}")"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$cuda_dir/bin/nvcc" ]]; then
    return
  fi
  command -v python3 >/dev/null || die "python3 with pip is needed to download the CUDA wheels"
  command -v unzip >/dev/null || die "unzip is needed to unpack the CUDA wheels"
  local tmp req
  tmp="$(mktemp -d)"
  req="$tmp/requirements.txt"
  local w
  for w in "${wheels[@]}"; do
    echo "${w% *} --hash=sha256:${w#* }" >>"$req"
  done
  echo "build-cuda.sh: downloading CUDA 13.0 wheels (~680 MB) into $cuda_dir" >&2
  python3 -m pip download --quiet --no-deps --require-hashes --only-binary=:all: \
    --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux_2_12_x86_64 --platform manylinux2010_x86_64 \
    -d "$tmp/whl" -r "$req" || die "pip download of the CUDA wheels failed (see above)"
  rm -rf "$cuda_dir.partial"
  mkdir -p "$cuda_dir.partial"
  for w in "$tmp"/whl/*.whl; do
    unzip -q -o "$w" 'nvidia/cu13/*' -d "$cuda_dir.partial"
  done
  rm -rf "$cuda_dir"
  mv "$cuda_dir.partial/nvidia/cu13" "$cuda_dir"
  rm -rf "$cuda_dir.partial" "$tmp"
  # The linker looks for unversioned names.
  local lib
  for lib in cudart cublas cublasLt nvrtc; do
    ln -sf "lib$lib.so.13" "$cuda_dir/lib/lib$lib.so"
  done
  ln -sf libcurand.so.10 "$cuda_dir/lib/libcurand.so"
  echo "$want" >"$stamp"
}

# Generates lib/stubs/libcuda.so (soname libcuda.so.1) exporting every driver entry point that
# cudarc binds; each returns CUDA_ERROR_STUB_LIBRARY (34). Link-time only: the stubs directory is
# never put on the loader path.
make_driver_stub() {
  local cudarc_version registry sys
  cudarc_version="$(awk '/^name = "cudarc"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)"
  [[ -n "$cudarc_version" ]] || die "cudarc is not in Cargo.lock"
  cargo fetch --quiet
  registry="${CARGO_HOME:-$HOME/.cargo}/registry/src"
  sys="$(ls -d "$registry"/*/"cudarc-$cudarc_version"/src/driver/sys/mod.rs 2>/dev/null | head -1)"
  [[ -f "$sys" ]] || die "cudarc $cudarc_version sources not found under $registry"
  local stub="$cuda_dir/lib/stubs/libcuda.so"
  if [[ -f "$stub" && "$stub" -nt "$sys" ]]; then
    return
  fi
  mkdir -p "$cuda_dir/lib/stubs"
  local src="$cuda_dir/lib/stubs/libcuda_stub.c"
  {
    echo '/* Generated by scripts/build-cuda.sh: link-time stand-in for the CUDA driver library. */'
    echo 'int cuGetErrorString(int e, const char **s) { (void)e; *s = "CUDA stub library: no CUDA driver"; return 0; }'
    echo 'int cuGetErrorName(int e, const char **s) { (void)e; *s = "CUDA_ERROR_STUB_LIBRARY"; return 0; }'
    grep -oE '(^\s+fn |pub unsafe fn )cu[A-Za-z0-9_]+\(' "$sys" | sed -E 's/.*fn //; s/\($//' | sort -u |
      grep -vxE 'cuGetErrorString|cuGetErrorName' | sed -E 's/.*/int &(void) { return 34; }/'
  } >"$src"
  cc -shared -fPIC -O1 -Wl,-soname,libcuda.so.1 -o "$stub" "$src"
}

install_toolkit
make_driver_stub

export CUDA_HOME="$cuda_dir" CUDA_PATH="$cuda_dir" CUDA_ROOT="$cuda_dir"
export NVCC="$cuda_dir/bin/nvcc"
export PATH="$cuda_dir/bin:$PATH"
export CUDARC_CUDA_VERSION=13000
export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}"

if [[ "${1:-}" == "--env" ]]; then
  for v in CUDA_HOME CUDA_PATH CUDA_ROOT NVCC PATH CUDARC_CUDA_VERSION CUDA_COMPUTE_CAP; do
    printf 'export %s=%q\n' "$v" "${!v}"
  done
  exit 0
fi

if [[ $# -eq 0 ]]; then
  set -- build --release -p spillover --features cuda
fi
exec cargo "$@"
