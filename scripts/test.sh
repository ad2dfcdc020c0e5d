#!/usr/bin/env bash
# The project's test command: installs/builds as needed, then runs the whole suite through ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
ctest --test-dir build --output-on-failure -j "$(nproc)" "$@"
