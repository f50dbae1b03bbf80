#!/usr/bin/env bash
# #16, thirty-sixth session: the Pong study's pixel agent, seeds 1 and 2 (seed 0 was trained by run.sh in
# runs/pong_study_2m, a folder lost with a fresh checkout; its evaluations are in partial/ and its export in this
# folder's evaluations.csv). Same settings as run.sh (rl-baselines3-zoo Atari PPO, NatureCNN, 2M env steps, held-out
# games of ppo_keypoints.py's ALE protocol), its own folders (runs/pong_study_pixels, export
# results/atari_pong_study/pixels) so the study's exports stay as they are; --first-seed 1 --seeds 2 trains seeds
# 1 and 2 only, two at a time. Resumable: rerun.
set -e
python experiments/ppo_keypoints.py --env ALE/Pong-v5 --agents pixels \
  --timesteps 2000000 --checkpoint-every 51200 --first-seed 1 --seeds 2 --jobs 2 --threads 1 --no-progress \
  --out runs/pong_study_pixels --export results/atari_pong_study/pixels "$@"
