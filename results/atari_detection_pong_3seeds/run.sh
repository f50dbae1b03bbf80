#!/usr/bin/env bash
# #16 item 2 (s30): the base setting of the Pong sweep (results/atari_detection_sweep_pong/: K = 16, grid 42, 1,500
# steps on 6,000 random-policy frames, w_mce 100; keypoints refined in a 5 px window, as the Pong study's agent gets
# them) with 3 pretraining seeds (frames and initialisation), MINT only, scored on the same 1,000 held-out frames.
# Resumable: rerun.
set -e
python experiments/atari_objects_detection.py --games Pong --methods mint --seeds 3 --refine 5 \
  --out runs/aod_pong_3seeds --threads 1 --no-progress
cp runs/aod_pong_3seeds/results.csv runs/aod_pong_3seeds/table.md results/atari_detection_pong_3seeds/
