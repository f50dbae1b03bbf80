#!/usr/bin/env bash
# Probes (#16, thirty-seventh session): does the agent that learns Pong (the map extractor) carry over to Breakout?
# The study's PPO settings (rl-baselines3-zoo Atari), held-out evaluation with sampled actions, 600k steps, seed 0;
# resumable (rerun the same variant; add --seeds 3 for seeds 0-2, as the README table). First the upper reference: does PPO on the RAM objects (paddle and ball; the
# bricks are not objects, envs/atari_objects.py) learn Breakout, read by the map?
#   objects-map-lr1e-3 : RAM objects, --extractor map --keypoint-lr 1e-3 (Pong: final +5.4 at 600k)
#   mint-map-nf-lr1e-3 : the shipped breakout encoder (K = 32; snapped and refined: paddle 100 %, ball 26 % of
#                        frames, results/atari_stills_s32/), --no-encoder-features --extractor map --keypoint-lr 1e-3
#   pixels             : the pixel agent (NatureCNN, zoo settings)
set -e
variant=${1:?variant: objects-map-lr1e-3, mint-map-nf-lr1e-3 or pixels}; shift || true
case $variant in
  objects-map-lr1e-3) extra=(--agents objects --extractor map --keypoint-lr 1e-3) ;;
  mint-map-nf-lr1e-3) extra=(--agents mint --encoder breakout --refine 5 --refine-snap 15 --no-encoder-features --extractor map --keypoint-lr 1e-3) ;;
  pixels) extra=(--agents pixels) ;;
  *) echo "unknown variant $variant"; exit 2 ;;
esac
python experiments/ppo_keypoints.py --env ALE/Breakout-v5 "${extra[@]}" \
  --timesteps 600000 --checkpoint-every 51200 --seeds 1 --jobs 1 --threads 1 --no-progress \
  --out runs/breakout_probe_$variant --export results/breakout_agent_probes/$variant "$@"
