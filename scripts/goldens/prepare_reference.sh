#!/usr/bin/env bash
# Puts the reference implementations the golden files are made from into .goldens-work/ref
# (ignored by git: their code is read and run, never committed here).
#   OPEN_SORA_GIT=path/to/Open-Sora.git  ROTARY_GIT=path/to/rotary-embedding-torch.git  $0
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
ref=$root/.goldens-work/ref
: "${OPEN_SORA_GIT:?clone of hpcaitech/Open-Sora (git dir)}"
: "${ROTARY_GIT:?clone of lucidrains/rotary-embedding-torch (git dir)}"
mkdir -p "$ref/opensora/models/stdit" "$ref/opensora/models/layers" "$ref/rotary_embedding_torch"
git --git-dir="$OPEN_SORA_GIT" show v1.2.0:opensora/models/stdit/stdit3.py >"$ref/opensora/models/stdit/stdit3.py"
git --git-dir="$OPEN_SORA_GIT" show v1.2.0:opensora/models/layers/blocks.py >"$ref/opensora/models/layers/blocks.py"
git --git-dir="$ROTARY_GIT" show 0.5.3:rotary_embedding_torch/rotary_embedding_torch.py \
  >"$ref/rotary_embedding_torch/rotary_embedding_torch.py"
git --git-dir="$ROTARY_GIT" show 0.5.3:rotary_embedding_torch/__init__.py \
  >"$ref/rotary_embedding_torch/__init__.py"
cp "$root/scripts/goldens/"*.py "$root/.goldens-work/"
echo "reference sources in $ref"
