#!/usr/bin/env bash
# #16 item 4 (s27): the Pong study — pixel PPO, MINT keypoint PPO and the objects agent (RAM positions), 1M agent
# steps, 3 seeds, rl-baselines3-zoo Atari PPO settings, held-out evaluation with sampled actions (ppo_keypoints.py's
# ALE protocol). The keypoint agent reads the grid-42 Pong encoder of results/atari_detection_refine/grid42/ (made by
# its run.sh: K = 16, 1,500 steps on 6,000 random-policy frames; player paddle 93 %, ball 55 % with refinement),
# its keypoints refined in a 5 px window. Runs are interleaved by seed; an interrupted run resumes from its mid-way
# checkpoint: rerun this script. Pixel PPO is about 5 CPU-hours a seed here (about 54 env steps/s with 1 torch thread
# while another job holds the other core; progress.py).
set -e
ENC=runs/aod_g42_refine/encoders/Pong/mint-k16-g42-mce100-seed0-s1500/encoder.pt
[ -f "$ENC" ] || bash results/atari_detection_refine/grid42/run.sh
python experiments/ppo_keypoints.py --env ALE/Pong-v5 --agents pixels mint objects --encoder "$ENC" --refine 5 \
  --seeds 3 --jobs 2 --threads 1 --no-progress --out runs/pong_study --export results/atari_pong_study "$@"
# Then (s28) the keypoint representation that won on the object tasks (issue #13): the relation extractor over the
# keypoints with 8 colour codes read in a 5 px window; same encoder, refinement, budget and seeds. Same folder, so its
# rows join the table above (one process per folder: it starts when the runs above are done). A 16k-step check while
# the study ran: 84 env steps/s with three processes on the two cores.
python experiments/ppo_keypoints.py --env ALE/Pong-v5 --agents mint --extractor relation --glimpse-size 5 \
  --colour-codes 8 --encoder "$ENC" --refine 5 --seeds 3 --jobs 2 --threads 1 --no-progress --out runs/pong_study \
  --export results/atari_pong_study "$@"
