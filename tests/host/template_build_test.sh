#!/usr/bin/env bash
# The out-of-tree plugin path, end to end, against an install of this build:
#   1. plugins/template builds on its own with find_package(ModelGrow), and the installed
#      `modelgrow` loads it and grows a model with it;
#   2. a copy of the template dropped as a NEW FOLDER into a collection of operators (a project
#      whose only CMake code is modelgrow_add_plugin_folders(), like growth_ops/) is built with no
#      other file edited, listed by `modelgrow plugins`, and passes the growth conformance suite.
#   template_build_test.sh BUILD_DIR SOURCE_DIR WORK_DIR
set -euo pipefail
build=$1 src=$2 work=$3
# Steps write their output to logs under WORK_DIR; a failing step shows its log's tail, so that a
# CI run with no access to WORK_DIR still says what went wrong (a full disk, a compiler error).
logged() {
  local log=$1
  shift
  "$@" >"$log" 2>&1 || {
    local status=$?
    echo "failed (exit $status): $*" >&2
    tail -40 "$log" >&2
    df -h "$work" >&2 || true
    return $status
  }
}
trap 'echo "template_build_test.sh: the check on line $LINENO failed" >&2' ERR
rm -rf "$work"
mkdir -p "$work"
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)

logged "$work/install.log" cmake --install "$build" --prefix "$work/prefix"
mg="$work/prefix/bin/modelgrow"

# 1. On its own.
logged "$work/configure.log" cmake -S "$src/plugins/template" -B "$work/plugin-build" \
  "${generator[@]}" -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_BUILD_TYPE=Release
logged "$work/build.log" cmake --build "$work/plugin-build"
# The installed CLI finds its own plugins relative to itself, and the new one on --plugin-path.
"$mg" plugins --kind growth | grep -q "stack"
"$mg" --plugin-path "$work/plugin-build" plugins --kind growth | grep -q "append_identity_block"
"$mg" init --preset STDiT3-T/2 --out "$work/base" >/dev/null
logged "$work/grow.log" "$mg" --plugin-path "$work/plugin-build" grow --in "$work/base" \
  --op append_identity_block --set count=2 --out "$work/grown"
# Two identity pairs appended to the two of T/2, and the host measured exact preservation.
grep -q '"depth": 4' "$work/grown/config.json"
grep -q '"op": "append_identity_block"' "$work/grown/growth_report.json"
grep -Eq '"max_abs": 0(\.0)?,' "$work/grown/growth_report.json"

# 2. As a new folder of a plugin collection.
collection="$work/collection"
mkdir -p "$collection"
cat >"$collection/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.25)
project(my_operators LANGUAGES C CXX)
find_package(ModelGrow REQUIRED)
modelgrow_add_plugin_folders()
CMAKE
cp -r "$src/plugins/template" "$collection/my_new_operator"
logged "$work/collection-configure.log" cmake -S "$collection" -B "$work/collection-build" \
  "${generator[@]}" -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_BUILD_TYPE=Release
logged "$work/collection-build.log" cmake --build "$work/collection-build"
library=$(find "$work/collection-build" -name 'growth_append_identity_block.so' | head -1)
[[ -n "$library" ]] || { echo "the new folder's plugin was not built"; exit 1; }
"$mg" --plugin-path "$(dirname "$library")" plugins --kind growth | grep -q "append_identity_block"
MODELGROW_CONFORMANCE_PLUGIN_PATH="$library" logged "$work/conformance.log" \
  "$build/bin/growth_conformance_test"
grep -q "append_identity_block" "$work/conformance.log"
echo "template plugin built out of tree, as a new folder, and passed the conformance suite: OK"
