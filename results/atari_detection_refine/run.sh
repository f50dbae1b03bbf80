#!/usr/bin/env bash
# #16 (s26): the encoders shipped at the time (the grid-84 sweep's MINT encoders, envs/pretrained/ as of commit 51ff0f2;
# Breakout's and Pong's have been replaced since, so they are taken from that commit) scored with their keypoints
# refined (mint_rl.refine) in windows of 3, 5, 7 and 9 px (0: as they are), on undilated boxes and on boxes grown
# by one pixel; 1,000 held-out frames per game. About 4 min on one core.
set -e
mkdir -p runs/aod_refine/grid84
for G in Pong Breakout MsPacman; do
  ENC="runs/aod_refine/grid84/${G,,}.pt"
  [ -f "$ENC" ] || git show "51ff0f2:envs/pretrained/${G,,}.pt" > "$ENC"
  for R in 0 3 5 7 9; do
    python experiments/atari_objects_detection.py --games "$G" --encoder "$ENC" --refine "$R" \
      --out runs/aod_refine --no-progress
  done
done
cp runs/aod_refine/results.csv runs/aod_refine/table.md runs/aod_refine/budget.json results/atari_detection_refine/
