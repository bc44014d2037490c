#!/usr/bin/env bash
# The out-of-tree plugin path, end to end: install the toolkit into a prefix, build
# plugins/template against that install with find_package(ModelGrow), then let the installed
# `modelgrow` load the plugin and grow a model with it.
#   template_build_test.sh BUILD_DIR SOURCE_DIR WORK_DIR
set -euo pipefail
build=$1 src=$2 work=$3
rm -rf "$work"
mkdir -p "$work"
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)

cmake --install "$build" --prefix "$work/prefix" >"$work/install.log"
cmake -S "$src/plugins/template" -B "$work/plugin-build" "${generator[@]}" \
  -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_BUILD_TYPE=Release >"$work/configure.log"
cmake --build "$work/plugin-build" >"$work/build.log"

mg="$work/prefix/bin/modelgrow"
# The installed CLI finds its own plugins relative to itself, and the new one on --plugin-path.
"$mg" plugins --kind growth | grep -q "stack"
"$mg" --plugin-path "$work/plugin-build" plugins --kind growth | grep -q "append_identity_block"
"$mg" init --preset STDiT3-T/2 --out "$work/base" >/dev/null
"$mg" --plugin-path "$work/plugin-build" grow --in "$work/base" --op append_identity_block \
  --set count=2 --out "$work/grown" >"$work/grow.log"
# Two identity pairs appended to the two of T/2, and the host measured exact preservation.
grep -q '"depth": 4' "$work/grown/config.json"
grep -q '"op": "append_identity_block"' "$work/grown/growth_report.json"
grep -Eq '"max_abs": 0(\.0)?,' "$work/grown/growth_report.json"
echo "template plugin built out of tree and grew a model: OK"
