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
tested=$(date +%s)
echo "tests: $((tested - built)) s"
# Every fuzz target, built with clang, libFuzzer, ASan and UBSan, each on its own fixed number of
# inputs from a fixed seed, about 20 seconds each (scripts/fuzz.sh; longer runs:
# docs/reliability.md). Skipped when tests are selected by arguments.
if (($# == 0)); then
  FUZZ_RUNS=${FUZZ_RUNS:-ci} FUZZ_BUILD_DIR=${FUZZ_BUILD_DIR:-$root/build-fuzz} \
    "$root/scripts/fuzz.sh"
  echo "fuzzing: $(($(date +%s) - tested)) s"
fi
