#!/usr/bin/env bash
# Configures build-asan/, the one instrumented build (docs/robustness.md): with clang, ASan + UBSan +
# libFuzzer coverage (NST_FUZZ), which serves both scripts/test.sh --sanitize and scripts/fuzz.sh;
# without clang, gcc's ASan + UBSan (the suite only). Prints the build directory.
set -euo pipefail
cd "$(dirname "$0")/.."
build=build-asan
if command -v clang++ >/dev/null; then
  flags=(-DCMAKE_CXX_COMPILER=clang++ -DNST_FUZZ=ON)
else
  flags=(-DCMAKE_CXX_COMPILER=g++ -DNST_SANITIZE=ON)
fi
# A build directory configured with the other compiler cannot be switched in place.
if [[ -f $build/CMakeCache.txt ]] && ! grep -q "^CMAKE_CXX_COMPILER:[A-Z]*=.*/${flags[0]#*=}\$" $build/CMakeCache.txt; then
  rm -rf "$build"
fi
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S . -B $build -G Ninja -DCMAKE_BUILD_TYPE=Release "${flags[@]}" "${launcher[@]}" >/dev/null
echo $build
