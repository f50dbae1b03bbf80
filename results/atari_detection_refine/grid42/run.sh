#!/usr/bin/env bash
# #16 (s26): a Pong MINT encoder at the base setting (K = 16, grid 42, 1,500 steps on 6,000 random-policy frames, seed 0)
# scored as it is and with its keypoints refined in 3, 5, 7 and 9 px windows; 1,000 held-out frames. ~21 min of
# pretraining on a shared core.
set -e
python experiments/atari_objects_detection.py --games Pong --methods mint --sweep refine=3,5,7,9 --out runs/aod_g42_refine --no-progress
cp runs/aod_g42_refine/results.csv runs/aod_g42_refine/table.md runs/aod_g42_refine/budget.json results/atari_detection_refine/grid42/
