#!/usr/bin/env bash
# The observation ladder on Pong (#16, thirty-third session): what do the shipped `pong` encoder's keypoints
# (snapped and refined, as the Pong study's keypoint agent reads them) lack that the RAM objects carry?
# 1. the keypoints' properties against the RAM objects on 1,000 held-out random-policy frames (env seeds 20000+);
# 2. PPO (the study's settings) on the true objects degraded to those properties, one property at a time and all
#    together (objects-mint), 600k steps, seed 0; resumable, rerun to continue.
set -e
python experiments/keypoint_properties.py --env ALE/Pong-v5 --encoder pong --refine 5 --refine-snap 15 --label pong \
  --out results/atari_ladder/properties
python experiments/ppo_keypoints.py --env ALE/Pong-v5 --extractor mlp \
  --agents objects-mint objects objects-copies objects-switch objects-miss objects-noise objects-status \
  --object-properties results/atari_ladder/properties/properties.json --object-properties-label pong-rf5s15 \
  --timesteps 600000 --checkpoint-every 51200 --seeds 1 --jobs 1 --threads 1 --no-progress \
  --out runs/atari_ladder --export results/atari_ladder "$@"
