# Instrumented builds, each in its own build directory (docs/robustness.md):
#   -DNST_SANITIZE=ON  AddressSanitizer + UndefinedBehaviorSanitizer over the whole project and its
#                      tests (scripts/test.sh --sanitize -> build-asan/); tests see NST_SANITIZED.
#   -DNST_FUZZ=ON      clang only: libFuzzer coverage + ASan + UBSan, and the tests/fuzz targets
#                      (scripts/fuzz.sh -> build-fuzz/).
# Both halt on the first UBSan report, so a finding is a failing test or a crash input, never a
# line in a log nobody reads. -O1 -g1: usable stacks at a fraction of -O0/-g compile time and size.
option(NST_SANITIZE "ASan + UBSan build of the whole project and its tests" OFF)
option(NST_FUZZ "libFuzzer targets in tests/fuzz (needs clang)" OFF)

set(nst_sanitizer_flags -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
if(NST_SANITIZE OR NST_FUZZ)
  # The sanitizers' own optimization level and debug info, whatever CMAKE_BUILD_TYPE says.
  add_compile_options(${nst_sanitizer_flags} -O1 -g1)
  add_link_options(-fsanitize=address,undefined)
endif()
if(NST_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "NST_FUZZ needs clang (libFuzzer): configure with -DCMAKE_CXX_COMPILER=clang++")
  endif()
  # Coverage feedback in our libraries; only the fuzz targets link libFuzzer's main.
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
