#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan, build-asan/, shared with scripts/test.sh --sanitize) and runs each for SECONDS.
# Usage: [JOBS=N] scripts/fuzz.sh [--seeds] [SECONDS] [TARGET...]
#   SECONDS  per target (default 30); TARGET: model_file checkpoint config image (default: all)
#   JOBS     targets fuzzed at once, one core each (default 1)
#   --seeds  rewrite the seeds in tests/fuzz/corpus/<target>/ with the project's own writers (keeping
#            the regression_* inputs of past findings), then exit
# Prints executions, exec/s and corpus size per target; exits non-zero if any target found a crash,
# leak, UB, timeout or out-of-memory. The inputs that did so are kept in build-asan/crashes/<target>/
# (reproduce: build-asan/fuzz/fuzz_<target> FILE). New coverage accumulates in build-asan/corpus/.
set -euo pipefail
cd "$(dirname "$0")/.."
all_targets=(model_file checkpoint config image)

seeds=0
[[ "${1:-}" == "--seeds" ]] && { seeds=1; shift; }
seconds=30
[[ "${1:-}" =~ ^[0-9]+$ ]] && { seconds=$1; shift; }
targets=("$@")
((${#targets[@]})) || targets=("${all_targets[@]}")
for t in "${targets[@]}"; do
  [[ " ${all_targets[*]} " == *" $t "* ]] || { echo "fuzz: unknown target '$t' (${all_targets[*]})" >&2; exit 2; }
done

jobs=${JOBS:-1}
[[ $jobs =~ ^[1-9][0-9]*$ ]] || { echo "fuzz: JOBS must be a whole number >= 1, got '$jobs'" >&2; exit 2; }
command -v clang++ >/dev/null || { echo "fuzz: needs clang (scripts/bootstrap.sh installs it)" >&2; exit 2; }
# The sanitized suite's build (fuzz targets come with it), one builder at a time: two ninjas in one
# build directory corrupt its logs and rebuild everything.
exec 9<scripts/configure_sanitized.sh
flock 9
build=$(scripts/configure_sanitized.sh)
cmake --build $build --target "${targets[@]/#/fuzz_}"
flock -u 9

export OMP_WAIT_POLICY=PASSIVE
supp=$PWD/tests/sanitizers
# Leaks are findings (detect_leaks); third-party ones are suppressed narrowly (tests/sanitizers/lsan.supp).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1:suppressions=$supp/ubsan.supp}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$supp/lsan.supp:print_suppressions=0}

if ((seeds)); then
  for t in "${targets[@]}"; do
    # The writers overwrite their own seeds by name; regression_* inputs (past findings) stay.
    NST_FUZZ_WRITE_SEEDS="tests/fuzz/corpus/$t" "$build/fuzz/fuzz_$t"
    echo "fuzz: $t: $(ls "tests/fuzz/corpus/$t" | wc -l) seeds, $(du -sk "tests/fuzz/corpus/$t" | cut -f1) KiB"
  done
  exit 0
fi

# One target's run: its summary line on stdout, a finding on stderr, exit 1 if it found one.
fuzz_target() {
  local t=$1 corpus=$build/corpus/$1 crashes=$build/crashes/$1 log=$build/logs/$1.log rc=0
  mkdir -p "$corpus" "$crashes" "$(dirname "$log")"
  # New inputs go to the first directory (build-asan/corpus); the committed seeds stay as they are.
  # -rss_limit_mb: 2 GiB per input is already far more than any loader needs for a valid small file.
  local dict=()
  [[ -f tests/fuzz/$t.dict ]] && dict=(-dict="tests/fuzz/$t.dict")
  "$build/fuzz/fuzz_$t" "${dict[@]}" -max_total_time="$seconds" -timeout=60 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$crashes/" "$corpus" "tests/fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
  stat() { grep -m1 "^stat::$1:" "$log" | awk '{print $2}' || true; }
  # libFuzzer's last status line: coverage (edges), features and the corpus (inputs/size) it kept.
  local last
  last=$(grep -E '^#[0-9]+\s' "$log" | tail -n 1 | grep -oE 'cov: [0-9]+|corp: [0-9]+/[0-9]+[a-zA-Z]*' | paste -sd' ' || true)
  printf 'fuzz: %-10s %s s: %s executions, %s exec/s, %s new inputs, %s, peak RSS %s MB\n' "$t" "$seconds" \
    "$(stat number_of_executed_units)" "$(stat average_exec_per_sec)" "$(stat new_units_added)" "$last" "$(stat peak_rss_mb)"
  if ((rc != 0)); then
    echo "fuzz: $t FAILED (exit $rc): $(grep -m1 -E '^==[0-9]+==ERROR|runtime error|^SUMMARY|deadly signal|out-of-memory|timeout' "$log" || true)" >&2
    echo "fuzz: log $log; inputs in $crashes/: $(ls "$crashes" | tr '\n' ' ')" >&2
    return 1
  fi
}

# JOBS targets at a time (each fuzzer is one process on one core); results print as each ends.
failed=() running=()
collect() {  # waits for the oldest running target
  wait "${running[0]%%:*}" || failed+=("${running[0]#*:}")
  running=("${running[@]:1}")
}
for t in "${targets[@]}"; do
  ((${#running[@]} < jobs)) || collect
  fuzz_target "$t" &
  running+=("$!:$t")
done
while ((${#running[@]})); do collect; done
if ((${#failed[@]})); then
  echo "fuzz: findings in: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} target(s) clean for $seconds s each"
