#!/usr/bin/env bash
# Configures and builds ModelGrow into BUILD_DIR (default: build), with ccache when present.
#   [BUILD_TARGETS="a b"] scripts/build.sh [extra cmake -D options...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
jobs=${JOBS:-$(nproc)}

# ccache and precompiled headers work together only with these settings; base_dir/hash_dir let
# two build folders of the same tree share cache entries.
export CCACHE_SLOPPINESS=${CCACHE_SLOPPINESS:-pch_defines,time_macros,include_file_mtime,include_file_ctime}
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$root}
export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
if [[ ! -f $build/CMakeCache.txt ]]; then
  cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@"
elif (($# > 0)); then
  cmake -S "$root" -B "$build" "$@"
fi
# Only the targets in BUILD_TARGETS when it is set (the sanitizer builds of the parsers use it).
targets=()
[[ -n ${BUILD_TARGETS:-} ]] && read -r -a names <<<"$BUILD_TARGETS" && targets=(--target "${names[@]}")
cmake --build "$build" -j "$jobs" "${targets[@]}"
