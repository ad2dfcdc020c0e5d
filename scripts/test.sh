#!/usr/bin/env bash
# The project's test command: installs/builds as needed, then runs the whole suite through ctest.
# Usage: scripts/test.sh [--sanitize] [CTEST ARGS...]
#   --sanitize  the same suite built with ASan + UBSan (build-asan/, scripts/configure_sanitized.sh): any
#               sanitizer report, in a test or in a tool a test runs, fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
sanitize=0
[[ "${1:-}" == "--sanitize" ]] && { sanitize=1; shift; }
# ctest runs suites in parallel, each with all cores: spinning OpenMP threads would starve each other.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
if ((!sanitize)); then
  scripts/bootstrap.sh
  exec ctest --test-dir build --output-on-failure -j "$(nproc)" "$@"
fi

scripts/bootstrap.sh --no-build
exec 9<scripts/configure_sanitized.sh
flock 9  # one builder of build-asan/ at a time (scripts/fuzz.sh builds there too)
build=$(scripts/configure_sanitized.sh)
# Reports go to files as well as failing the process: a tool that a test expects to fail (exit 1)
# cannot hide one. exitcode 86/87: never mistaken for a tool's own exit status.
reports=$PWD/$build/sanitizer-reports
supp=$PWD/tests/sanitizers
rm -rf "$reports" && mkdir -p "$reports"
export ASAN_OPTIONS="detect_leaks=1:exitcode=86:log_path=$reports/asan:$(grep -v '^#' "$supp/asan.options" | paste -sd:)"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:exitcode=87:log_path=$reports/ubsan:suppressions=$supp/ubsan.supp"
export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
cmake --build $build  # discovering the tests runs them instrumented already
flock -u 9
rm -f "$reports"/*     # (their reports, if any, reappear when ctest runs the same code)
status=0
ctest --test-dir $build --output-on-failure -j "$(nproc)" "$@" || status=$?
if compgen -G "$reports/*" >/dev/null; then
  echo "test: sanitizer reports (scripts/test.sh --sanitize):" >&2
  head -n 60 "$reports"/* >&2
  status=1
fi
exit $status
