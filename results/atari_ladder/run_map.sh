#!/usr/bin/env bash
# #16, thirty-fifth session: the Pong ladder (the RAM objects degraded to the keypoints' measured properties) read by
# the map extractor (--extractor map, --keypoint-lr 1e-3): which of the keypoints' defects still cost an agent that
# is blind to row identity? objects-mint (all together) first, then missed objects, copies, rows that exchange
# objects. 600k steps, seed 0, the study's PPO settings; own folders (runs/atari_ladder_map, export
# results/atari_ladder/map); resumable: rerun. The undegraded rung is results/pong_agent_probes/objects_map/.
set -e
python experiments/ppo_keypoints.py --env ALE/Pong-v5 \
  --agents objects-mint objects-miss objects-switch objects-copies \
  --object-properties results/atari_ladder/properties/properties.json --object-properties-label pong-rf5s15 \
  --extractor map --keypoint-lr 1e-3 \
  --timesteps 600000 --checkpoint-every 51200 --seeds 1 --jobs 1 --threads 1 --no-progress \
  --out runs/atari_ladder_map --export results/atari_ladder/map "$@"
