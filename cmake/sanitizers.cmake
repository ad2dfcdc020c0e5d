# Instrumented builds (docs/robustness.md):
#   -DNST_SANITIZE=ON  AddressSanitizer + UndefinedBehaviorSanitizer over the whole project and its
#                      tests; tests see NST_SANITIZED.
#   -DNST_FUZZ=ON      clang only, implies NST_SANITIZE: also libFuzzer coverage in every library and
#                      the tests/fuzz targets, so one build serves both the sanitized suite and the
#                      fuzzers (scripts/test.sh --sanitize and scripts/fuzz.sh share build-asan/).
# Both halt on the first UBSan report, so a finding is a failing test or a crash input, never a
# line in a log nobody reads. -O0 -g1: the suite spends its time in LibTorch and OpenCV, which are
# not instrumented, so optimizing our code buys little run time and costs a third of the build
# (clang 14: a test file 41 s at -O1, 28 s at -O0); -g1 gives stacks with file and line.
option(NST_SANITIZE "ASan + UBSan build of the whole project and its tests" OFF)
option(NST_FUZZ "libFuzzer targets in tests/fuzz (needs clang; implies NST_SANITIZE)" OFF)
if(NST_FUZZ)
  set(NST_SANITIZE ON CACHE BOOL "ASan + UBSan build of the whole project and its tests" FORCE)
endif()

set(nst_sanitizer_flags -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
if(NST_SANITIZE)
  # The sanitizers' own optimization level and debug info, whatever CMAKE_BUILD_TYPE says.
  add_compile_options(${nst_sanitizer_flags} -O0 -g1)
  add_link_options(-fsanitize=address,undefined)
endif()
if(NST_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "NST_FUZZ needs clang (libFuzzer): configure with -DCMAKE_CXX_COMPILER=clang++")
  endif()
  # Coverage feedback in our libraries; only the fuzz targets link libFuzzer's main. Other
  # executables (tests, tools) get the coverage hooks' no-op defaults from the ASan runtime.
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
