#!/usr/bin/env bash
# Training throughput of the quickstart's model (STDiT3-T/2, 8 frames of 16x16, batch 16) on this
# machine's CPU cores, shared two ways:
#   one worker with 2 threads                 modelgrow --threads 2 run ...
#   two workers with 1 thread each            modelgrow run ... --nproc-per-node 2
# (data parallel: each worker takes half of every batch; gradients are averaged over Gloo on
# loopback). Both train the same steps on the same data from the same tiny T5 (made once).
# Prints steps/s, samples/s and tokens/s (8 x 8 x 8 = 512 patch tokens per sample) of each.
#
#   scripts/bench_distributed.sh [STEPS]      (default 60; BUILD_DIR as for scripts/build.sh)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
steps=${1:-60}
bin="$build/bin/modelgrow"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The quickstart's model, text encoder and data; one pre-training stage.
cat > "$work/bench.toml" <<EOF
[experiment]
name = "bench"
[model]
preset = "STDiT3-T/2"
text = "t5"
[text.t5]
plugin = "t5"
max_length = 16
[text.t5.make]
corpus = ["base"]
vocab_size = 256
d_model = 64
layers = 2
heads = 4
[data.base]
plugin = "synthetic"
domain = "base"
size = 1024
frames = 8
height = 16
width = 16
[stages.pretrain]
kind = "pretrain"
data = "base"
caption = "short"
steps = $steps
batch_size = 16
log_every = 10
EOF

stage_json() { ls "$1"/cache/pretrain-*/stage.json; }
report() {
  python3 - "$1" "$2" <<'PY'
import json, sys
label, path = sys.argv[1], sys.argv[2]
s = json.load(open(path))
sps = s["steps_per_second"]
print(f"| {label} | {s['world_size']} | {sps:.2f} | {sps * 16:.1f} | {sps * 16 * 512:,.0f} |")
PY
}

echo "making the tiny T5 and warming up..." >&2
"$bin" --threads 2 run "$work/bench.toml" --out "$work/one" --no-report --set stages.pretrain.steps=1 >/dev/null 2>&1
mkdir -p "$work/two/cache"
cp -r "$work"/one/cache/text-* "$work/two/cache/"
rm -rf "$work"/one/cache/pretrain-*

echo "1 worker x 2 threads, $steps steps..." >&2
"$bin" --threads 2 run "$work/bench.toml" --out "$work/one" --no-report >"$work/one.log" 2>&1
echo "2 workers x 1 thread, $steps steps..." >&2
OMP_NUM_THREADS=1 "$bin" run "$work/bench.toml" --out "$work/two" --no-report \
  --nproc-per-node 2 >"$work/two.log" 2>&1

echo "| layout | workers | steps/s | samples/s | tokens/s |"
echo "|---|---|---|---|---|"
report "1 worker x 2 threads" "$(stage_json "$work/one")"
report "2 workers x 1 thread" "$(stage_json "$work/two")"
