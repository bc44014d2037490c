#!/usr/bin/env bash
# Builds ModelGrow and runs the quickstart experiment on the built-in synthetic data:
# base pre-training -> insert stacking (zero init) and plain fine-tuning -> continual training
# -> evaluation, ending with the results table and the path of the HTML report.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
"$root/scripts/build.sh"
out=${OUT:-$root/runs/quickstart}
exec "$build/bin/modelgrow" run "$root/experiments/quickstart.toml" --out "$out" "$@"
