#!/usr/bin/env bash
# The Pong ladder again (#16, thirty-fourth session), its objects agents with the two changes that made PPO on the RAM
# objects learn faster (results/pong_agent_probes/: --fourier-features 6 --keypoint-lr 1e-3): which keypoint defect
# costs most once the upper reference learns quickly? Same properties file, 600k steps, seed 0, same folder as
# run.sh (labels objects-<rung>-ff6-lr0.001; objects-ff6-lr0.001 itself: results/pong_agent_probes/objects/);
# resumable, rerun to continue. Rungs in order of interest; pass --agents to choose.
set -e
python experiments/ppo_keypoints.py --env ALE/Pong-v5 --extractor mlp \
  --agents objects-miss objects-switch objects-copies objects-mint \
  --object-properties results/atari_ladder/properties/properties.json --object-properties-label pong-rf5s15 \
  --fourier-features 6 --keypoint-lr 1e-3 \
  --timesteps 600000 --checkpoint-every 51200 --seeds 1 --jobs 1 --threads 1 --no-progress \
  --out runs/atari_ladder --export results/atari_ladder "$@"
