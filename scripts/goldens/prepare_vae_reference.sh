#!/usr/bin/env bash
# Puts the reference sources the VAE goldens are made from into .goldens-work/ref (ignored by
# git: their code is read and run, never committed here): Open-Sora v1.2.0's VAE, diffusers
# v0.27.2's AutoencoderKL and the modules it computes with, and einops 0.8.0.
#   OPEN_SORA_GIT=.../Open-Sora.git DIFFUSERS_GIT=.../diffusers.git EINOPS_GIT=.../einops.git $0
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
ref=$root/.goldens-work/ref
: "${OPEN_SORA_GIT:?clone of hpcaitech/Open-Sora (git dir)}"
: "${DIFFUSERS_GIT:?clone of huggingface/diffusers (git dir)}"
: "${EINOPS_GIT:?clone of arogozhnikov/einops (git dir)}"
mkdir -p "$ref/opensora/models/vae" "$ref/diffusers/models/autoencoders" \
  "$ref/diffusers/models/unets" "$ref/einops"
for f in vae.py vae_temporal.py utils.py; do
  git --git-dir="$OPEN_SORA_GIT" show "v1.2.0:opensora/models/vae/$f" >"$ref/opensora/models/vae/$f"
done
for f in autoencoders/autoencoder_kl.py autoencoders/vae.py unets/unet_2d_blocks.py resnet.py \
  attention_processor.py downsampling.py upsampling.py activations.py normalization.py; do
  git --git-dir="$DIFFUSERS_GIT" show "v0.27.2:src/diffusers/models/$f" >"$ref/diffusers/models/$f"
done
for f in __init__.py einops.py parsing.py packing.py _backends.py _torch_specific.py; do
  git --git-dir="$EINOPS_GIT" show "v0.8.0:einops/$f" >"$ref/einops/$f"
done
cp "$root/scripts/goldens/make_vae_goldens.py" "$root/scripts/goldens/vae_reference_speed.py" \
  "$root/.goldens-work/"
echo "reference sources in $ref"
