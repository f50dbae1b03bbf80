#!/usr/bin/env bash
# #16 item 4: the Pong study — pixel PPO, MINT keypoint PPO and the objects agent (RAM positions), 3 seeds,
# rl-baselines3-zoo Atari PPO settings, held-out evaluation with sampled actions (ppo_keypoints.py's ALE protocol).
# Thirty-second session: 2M agent steps per run (at 1M, s27–s29, the pixel agent ended only 1.6 points above random on
# seed 0: partial_1m/, progress_1m.out). The keypoint agent reads the shipped `pong` encoder (envs/pretrained/pong.pt:
# K = 16, grid 42, seed 1 of results/atari_detection_pong_3seeds/, the seed whose keypoints a linear map reads best on
# held-out frames: player paddle 1.3 px, enemy 0.9, ball 1.9 against 8.7 / 0.6 / 4.3 for seed 0), its keypoints
# refined in a 5 px window after background keypoints snap to the nearest object pixel in a 15 px window
# (--refine-snap 15: detection player 67 %, enemy 100 %, ball 58 % on its last-frame box and 93 % on the pooled boxes,
# results/atari_refine_snap_s32/), the flat status-gated extractor (the ALE default, given explicitly: --extractor mlp). Thirty-third session: the keypoint
# rows leave out the encoder's 8 untrained feature-head outputs (--no-encoder-features, label mint-rf5s15-nf): with
# them the agent stayed near random (seed 0 at 2M: -19.2; partial/mint-rf5s15-seed0-evaluations.csv), without them it
# learned in a 600k probe (results/atari_ladder/probes/, docs/pong_keypoint_agent.md).
# Runs are interleaved by seed, two at a time; an interrupted run resumes from its last checkpoint (every 51,200
# steps): rerun this script. While it runs: python results/atari_pong_study/progress.py > results/atari_pong_study/progress.out
set -e
python experiments/ppo_keypoints.py --env ALE/Pong-v5 --agents pixels mint objects --encoder pong --refine 5 --refine-snap 15 --no-encoder-features --extractor mlp \
  --timesteps 2000000 --checkpoint-every 51200 --seeds 3 --jobs 2 --threads 1 --no-progress \
  --out runs/pong_study_2m --export results/atari_pong_study "$@"
