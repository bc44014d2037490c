#!/usr/bin/env bash
# Builds ModelGrow and runs the quickstart experiment on the built-in synthetic data:
# base pre-training -> insert stacking (zero init) and plain fine-tuning -> continual training
# -> evaluation, ending with the results table and the path of the HTML report.
#   [QUICKSTART_PROCS=N] scripts/quickstart.sh [key.path=value ...] [modelgrow run options]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
"$root/scripts/build.sh"
out=${OUT:-$root/runs/quickstart}
# One single-threaded worker per core, at most 4 so the batch of 16 splits evenly: on a model this
# small one process's intra-op threads mostly wait for each other, and two workers train it about
# 1.5x faster than one process with two threads (docs/distributed.md). The numbers match a
# one-process run's to float rounding.
cores=$(nproc)
procs=${QUICKSTART_PROCS:-$((cores >= 4 ? 4 : (cores >= 2 ? 2 : 1)))}
workers=()
((procs > 1)) && workers=(--nproc-per-node "$procs")
exec "$build/bin/modelgrow" run "$root/experiments/quickstart.toml" --out "$out" "${workers[@]}" "$@"
