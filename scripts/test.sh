#!/usr/bin/env bash
# Builds ModelGrow and runs the whole test suite (ctest), as CI does.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
start=$(date +%s)
"$root/scripts/build.sh"
built=$(date +%s)
echo "build: $((built - start)) s"
cd "$build"
# Each test uses one intra-op thread; ctest runs as many tests at once as there are cores.
OMP_NUM_THREADS=1 ctest --output-on-failure -j "$(nproc)" --timeout 900 "$@"
echo "tests: $(($(date +%s) - built)) s"
