#!/usr/bin/env bash
# Installs every system dependency from Debian packages (idempotent), then configures and builds.
# Usage: scripts/bootstrap.sh [--no-build]
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  cmake ninja-build g++ pkg-config
  libtorch-dev libopencv-dev libyaml-cpp-dev libgtest-dev libcli11-dev nlohmann-json3-dev libssl-dev zlib1g-dev
  libgloo-dev                  # headers of LibTorch's c10d Gloo process group (data-parallel nst-train)
  libopenblas0-openmp          # without it LibTorch uses reference BLAS: Gram matrices 2.3x slower
  python3 python3-torch python3-torchvision python3-numpy python3-matplotlib python3-pil python3-yaml  # references, converters, plots, meters
  opencv-doc                   # sample photos, starry_night.jpg and vtest.avi for the demo
  libonnx-dev libprotobuf-dev protobuf-compiler  # nst-export writes ONNX from C++
  dpkg-dev                     # dpkg-shlibdeps: Debian dependencies of the .deb (scripts/build_deb.sh)
  clang libclang-rt-14-dev     # the sanitized build: libFuzzer, ASan/UBSan runtimes (scripts/configure_sanitized.sh)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "bootstrap: installing ${missing[*]}"
  if [[ $(id -u) == 0 ]]; then
    as_root=()
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    as_root=(sudo)
  else
    echo "bootstrap: error: installing packages needs root or passwordless sudo; run as root or install: ${missing[*]}" >&2
    exit 1
  fi
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# LibTorch links the system libblas.so.3: make sure it resolves to OpenBLAS, not reference BLAS.
blas=$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 2>/dev/null || true)
case "$blas" in
  *openblas*) ;;
  *) echo "bootstrap: warning: libblas.so.3 is $blas, not OpenBLAS; select it with update-alternatives --config libblas.so.3-x86_64-linux-gnu" >&2 ;;
esac

[[ "${1:-}" == "--no-build" ]] && exit 0
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build
echo "bootstrap: built; executables in build/bin/"
