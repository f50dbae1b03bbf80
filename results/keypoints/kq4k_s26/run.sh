#!/usr/bin/env bash
# #14 item 2 (s26): MINT (input-size grid, 64×64) against the Transporter at 4,000 optimiser steps, 3 seeds, one
# --out per scene family. Seeds already trained with the same budget (input-grid ablation seed 0, s25 seed 1) were
# copied into the folders first (see README of this folder). Resumable: rerun the same line.
#   bash results/keypoints/kq4k_s26/run.sh Collisions Bouncing     # one core
#   bash results/keypoints/kq4k_s26/run.sh EnterLeave Cluttered    # the other
set -e
for S in "$@"; do
  python experiments/evaluate_keypoints.py --encoders mint transporter --seeds 3 --scenes "$S" --steps 4000 \
    --frames 6000 --eval-episodes 8 --eval-frames 200 --video-frames 0 --threads 1 --no-progress \
    --mint 'grid_size=[64, 64]' --out "runs/kq4k_$S"
done
