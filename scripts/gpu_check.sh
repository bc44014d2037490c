#!/usr/bin/env bash
# On a GPU machine (PyTorch's LibTorch 2.x with CUDA; see docs/gpu.md): build everything, run the
# test suite (CUDA tests included), the CUDA benchmarks, and a short quickstart on the GPU.
# Logs go to $OUT (or ./gpu-check). Expects .gpukit/ (scripts: shared/gpu/fetch-debs.sh).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-$root/gpu-check}
mkdir -p "$out"
source "$root/.gpukit/build-env.sh"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' | tee -a "$out/gpu.txt"
build=$root/build-cuda
# shellcheck disable=SC2086
cmake -S "$root" -B "$build" -G Ninja $MG_CMAKE_ARGS >"$out/configure.log" 2>&1 || { tail -50 "$out/configure.log"; exit 1; }
cmake --build "$build" -j "$(nproc)" >"$out/build.log" 2>&1 || { grep -E "error|FAILED" "$out/build.log" | head -60; exit 1; }
echo "build ok"
(cd "$build" && OMP_NUM_THREADS=2 ctest -j 8 --timeout 600 >"$out/ctest.log" 2>&1; tail -25 "$out/ctest.log")
"$build/bin/model_benchmark" --benchmark_filter='cuda|S2_32px$' --benchmark_counters_tabular=true 2>&1 | tee "$out/model_benchmark.txt"
"$build/bin/modelgrow" run "$root/experiments/quickstart.toml" --out /tmp/qs-cuda --set experiment.device=cuda \
  --set stages.pretrain.steps=60 --set stages.continue.steps=40 --set stages.evaluate.samples=8 >"$out/quickstart_cuda.log" 2>&1
echo "quickstart on cuda: rc=$?"; tail -8 "$out/quickstart_cuda.log"
