#!/usr/bin/env bash
# #16 item 2 (s32): Boxing, the base setting (K 16, grid 42, 1,500 steps, w_mce 100) with 3 pretraining seeds (it had
# one, in results/atari_detection_sweep_s31/Boxing), scored refined in 5 px and with the snap (--refine-snap 15).
# About 20 min a seed on a shared core. Resumable: rerun.
set -e
for SNAP in 0 15; do
  python experiments/atari_objects_detection.py --games Boxing --methods mint --seeds 3 --refine 5 --refine-snap $SNAP \
    --out runs/aod_seeds_s32_boxing-base --threads 1 --no-progress
done
mkdir -p results/atari_detection_seeds_s32/boxing-base
cp runs/aod_seeds_s32_boxing-base/results.csv runs/aod_seeds_s32_boxing-base/table.md results/atari_detection_seeds_s32/boxing-base/
