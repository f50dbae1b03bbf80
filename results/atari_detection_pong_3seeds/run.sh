#!/usr/bin/env bash
# #16 item 2 (s30): the base setting of the Pong sweep (results/atari_detection_sweep_pong/: K = 16, grid 42, 1,500
# steps on 6,000 random-policy frames, w_mce 100; keypoints refined in a 5 px window, as the Pong study's agent gets
# them) with 3 pretraining seeds (frames and initialisation), scored on the same 1,000 held-out frames; MINT, then the
# Transporter with the same budget (its keypoints refined the same way). MsPacman the same (its own folder).
# s31: the same encoders also scored unrefined (--refine 0: no training, the cached encoders), and every row has the
# "both frames" column (detection on the boxes of both emulator frames the observation max-pools); rows written
# before that column existed are scored again with --rescore. Resumable: rerun.
set -e
for M in mint transporter; do
  for R in 5 0; do
    python experiments/atari_objects_detection.py --games Pong --methods $M --seeds 3 --refine $R \
      --out runs/aod_pong_3seeds --threads 1 --no-progress "$@"
  done
done
cp runs/aod_pong_3seeds/results.csv runs/aod_pong_3seeds/table.md results/atari_detection_pong_3seeds/
for R in 5 0; do
  python experiments/atari_objects_detection.py --games MsPacman --methods mint --seeds 3 --refine $R \
    --out runs/aod_mspacman_3seeds --threads 1 --no-progress "$@"
done
mkdir -p results/atari_detection_pong_3seeds/mspacman
cp runs/aod_mspacman_3seeds/results.csv runs/aod_mspacman_3seeds/table.md results/atari_detection_pong_3seeds/mspacman/
