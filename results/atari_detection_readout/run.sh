#!/usr/bin/env bash
# #16 (s27): what a policy could read from the keypoints without one on the box: the linear read-out's error in
# pixels (mint_rl.readout, cross-fitted over the 4 held-out videos) beside detection, for the shipped encoders
# (grid 84) as they are and refined in the window that scored best (results/atari_detection_refine/), and for the
# grid-42 Pong encoder of results/atari_detection_refine/grid42/ (made by its run.sh; runs/aod_g42_refine).
# 1,000 held-out frames per game; a few minutes on one core.
set -e
OUT=runs/aod_readout
for spec in Pong:0 Pong:3 Breakout:0 MsPacman:0 MsPacman:5 MsPacman:9; do
  G=${spec%%:*}; R=${spec##*:}
  python experiments/atari_objects_detection.py --games "$G" --encoder "envs/pretrained/${G,,}.pt" --refine "$R" \
    --out $OUT --no-progress
done
G42=runs/aod_g42_refine/encoders/Pong/mint-k16-g42-mce100-seed0-s1500/encoder.pt
for R in 0 5; do
  python experiments/atari_objects_detection.py --games Pong --encoder $G42 --refine $R --out $OUT --no-progress
done
mkdir -p results/atari_detection_readout
cp $OUT/results.csv $OUT/table.md $OUT/budget.json results/atari_detection_readout/
