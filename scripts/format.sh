#!/usr/bin/env bash
# clang-format every C++ source and header the repository tracks (or the files given).
set -euo pipefail
cd "$(dirname "$0")/.."
if (($# > 0)); then files=("$@"); else mapfile -t files < <(git ls-files '*.cc' '*.h'); fi
clang-format -i "${files[@]}"
