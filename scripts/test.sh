#!/usr/bin/env bash
# The project's test command: installs/builds as needed, then runs the whole suite through ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
# ctest runs suites in parallel, each with all cores: spinning OpenMP threads would starve each other.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
ctest --test-dir build --output-on-failure -j "$(nproc)" "$@"
