#!/usr/bin/env bash
# Probes (#16, thirty-fourth session): why does PPO on object lists learn Pong slowly? The RAM objects agent (the
# upper reference for keypoints) trains to only -16.1 at 600k steps (results/atari_ladder/) and -6.8 at 2M, against
# the pixel agent's +2.2 at 2M; the keypoint agent levels off near -16. Each variant changes one thing in how the
# object/keypoint rows reach PPO; the study's PPO settings otherwise, 600k steps, seed 0; resumable (rerun).
#   objects-sc   : RAM objects, the value function with its own features extractor (--separate-critic)
#   objects-aux  : RAM objects, auxiliary reward prediction (--aux-reward 2, as on the object tasks)
#   objects-ff6  : RAM objects, each row's (x, y) also as sinusoids at 6 octaves (--fourier-features 6)
#   objects-lr1e-3: RAM objects, PPO learning rate 1e-3 decaying linearly (--keypoint-lr 1e-3; shared: 2.5e-4)
#   objects-ff6-lr1e-3: both
#   mint-nf-ff6  : the study's keypoint agent (shipped pong, --refine 5 --refine-snap 15 --no-encoder-features) with
#                  --fourier-features 6 (the same agent without them: results/atari_ladder/probes/, nf)
#   mint-nf-ff6-lr1e-3: and --keypoint-lr 1e-3
#   mint-c8-nf-ff6-lr1e-3: and each keypoint's colour code among 8 (5x5 window), so rows that change object say so
# Thirty-fifth session: rows that exchange objects cost the objects agent most (results/atari_ladder/); the map
# extractor (--extractor map) draws the keypoints of each stacked frame on a 32x32 grid and reads them with a CNN,
# blind to which row a keypoint came from:
#   mint-map-nf-lr1e-3 : the keypoint agent (shipped pong, --refine 5 --refine-snap 15 --no-encoder-features), map
#   objects-map-lr1e-3 : RAM objects, map (the same extractor's upper reference)
set -e
variant=${1:?variant}; shift || true
case $variant in
  objects-sc) extra=(--agents objects --separate-critic) ;;
  objects-aux) extra=(--agents objects --aux-reward 2) ;;
  objects-ff6) extra=(--agents objects --fourier-features 6) ;;
  objects-lr1e-3) extra=(--agents objects --keypoint-lr 1e-3) ;;
  objects-ff6-lr1e-3) extra=(--agents objects --fourier-features 6 --keypoint-lr 1e-3) ;;
  mint-nf-ff6-lr1e-3) extra=(--agents mint --encoder pong --refine 5 --refine-snap 15 --no-encoder-features --fourier-features 6 --keypoint-lr 1e-3) ;;
  mint-c8-nf-ff6-lr1e-3) extra=(--agents mint --encoder pong --refine 5 --refine-snap 15 --no-encoder-features --fourier-features 6 --keypoint-lr 1e-3 --glimpse-size 5 --colour-codes 8) ;;
  mint-map-nf-lr1e-3) extra=(--agents mint --encoder pong --refine 5 --refine-snap 15 --no-encoder-features --extractor map --keypoint-lr 1e-3) ;;
  objects-map-lr1e-3) extra=(--agents objects --extractor map --keypoint-lr 1e-3) ;;
  mint-nf-ff6) extra=(--agents mint --encoder pong --refine 5 --refine-snap 15 --no-encoder-features --fourier-features 6) ;;
  *) echo "unknown variant $variant"; exit 2 ;;
esac
# objects and keypoint probes write separate folders, so one of each can run at a time (one per core)
case $variant in *-map-*) kind=${variant%%-*}_map ;; objects*) kind=objects ;; *) kind=keypoints ;; esac
python experiments/ppo_keypoints.py --env ALE/Pong-v5 --extractor mlp "${extra[@]}" \
  --timesteps 600000 --checkpoint-every 51200 --seeds 1 --jobs 1 --threads 1 --no-progress \
  --out runs/pong_probe_s34_$kind --export results/pong_agent_probes/$kind "$@"
