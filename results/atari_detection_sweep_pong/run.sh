#!/usr/bin/env bash
# #16 item 2 (s29): one-factor sweep of MINT's pretraining on Pong around the Pong study's encoder (K = 16, grid 42,
# 1,500 steps on 6,000 random-policy frames, w_mce 100, seed 0; keypoints refined in a 5 px window as the study's agent
# gets them): K 8 / 32, steps 3,000 (continues the 1,500-step checkpoint), w_mce 25 / 400; one seed each; 1,000
# held-out frames. Then two combinations: K = 8 at 3,000 steps, and with w_mce 400. 11-18 min per pretraining on a
# core shared with a PPO run. Reuses the frames and the base encoder of results/atari_detection_refine/grid42/run.sh.
set -e
[ -f runs/aod_g42_refine/encoders/Pong/mint-k16-g42-mce100-seed0-s1500/encoder.pt ] || bash results/atari_detection_refine/grid42/run.sh
python experiments/atari_objects_detection.py --games Pong --methods mint --refine 5 --sweep k=8,32 --sweep steps=3000 \
  --sweep w_mce=25,400 --out runs/aod_g42_refine --threads 1 --no-progress
python experiments/atari_objects_detection.py --games Pong --methods mint -k 8 --steps 3000 --refine 5 \
  --sweep w_mce=400 --out runs/aod_g42_refine --threads 1 --no-progress
cp runs/aod_g42_refine/results.csv runs/aod_g42_refine/table.md results/atari_detection_sweep_pong/
