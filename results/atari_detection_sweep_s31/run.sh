#!/usr/bin/env bash
# #16 item 2 (s31): the one-factor sweep of the Pong study's setting (results/atari_detection_sweep_pong/) on the
# other games with target objects: MINT, K 8 / 16 / 32, steps 1,500 / 3,000 (continues the 1,500-step checkpoint),
# w_mce 25 / 100 / 400; grid 42; one seed each; keypoints refined in a 5 px window; 1,000 held-out frames; per game
# its own folder, so the games run side by side (one process per folder): bash run.sh Breakout & bash run.sh MsPacman
# Resumable: rerun.
set -e
G=${1:?give a game: Breakout, MsPacman, Boxing or Freeway}
python experiments/atari_objects_detection.py --games "$G" --methods mint --refine 5 --sweep k=8,32 --sweep steps=3000 \
  --sweep w_mce=25,400 --out "runs/aod_sweep_s31_$G" --threads 1 --no-progress
mkdir -p "results/atari_detection_sweep_s31/$G"
cp "runs/aod_sweep_s31_$G/results.csv" "runs/aod_sweep_s31_$G/table.md" "results/atari_detection_sweep_s31/$G/"
