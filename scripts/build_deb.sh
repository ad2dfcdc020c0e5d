#!/usr/bin/env bash
# Builds the Debian package (CPack DEB: tools, libnst_stylizer + CMake package, configs, docs) from a
# configured build tree and prints the .deb's path. Dependencies come from dpkg-shlibdeps.
# Usage: scripts/build_deb.sh [--no-build] [BUILD_DIR (default build)] [OUT_DIR (default BUILD_DIR/packages)]
# Install: sudo apt install ./build/packages/nst_*.deb
set -euo pipefail
cd "$(dirname "$0")/.."
build_first=1
if [[ "${1:-}" == "--no-build" ]]; then build_first=0; shift; fi
build=${1:-build}
out=${2:-$build/packages}
fail() { echo "build_deb: error: $*" >&2; exit 1; }
[[ -f "$build/CPackConfig.cmake" ]] || fail "$build/CPackConfig.cmake: not found (configure and build first: scripts/bootstrap.sh)"
command -v dpkg-shlibdeps >/dev/null || fail "dpkg-shlibdeps not found (apt-get install dpkg-dev)"
((build_first)) && cmake --build "$build" >/dev/null
mkdir -p "$out"
# cpack works in a private folder; the finished .deb is renamed into OUT_DIR (never half-written).
staging=$(mktemp -d "$out/.cpack.XXXXXX")
trap 'rm -rf "$staging"' EXIT
if ! cpack --config "$build/CPackConfig.cmake" -B "$staging" >"$staging/cpack.log" 2>&1; then
  tail -n 20 "$staging/cpack.log" >&2
  fail "cpack failed (see above)"
fi
deb=$(find "$staging" -maxdepth 1 -name '*.deb' | head -n 1)
[[ -n "$deb" ]] || fail "cpack produced no .deb"
mv -f "$deb" "$out/"
echo "$out/$(basename "$deb")"
