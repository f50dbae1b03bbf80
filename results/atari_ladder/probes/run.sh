#!/usr/bin/env bash
# Probes (#16, thirty-third session): keypoint agents on Pong that get each keypoint's colour, so a row that shows the
# ball in one frame and the player paddle in another can be told apart (results/atari_ladder/rows_probe.out).
# The study's setting (shipped `pong`, --refine 5 --refine-snap 15, the study's PPO), 600k steps, seed 0; resumable.
#   relation : the object-task representation (relation network over keypoint pairs, 8 colour codes) — stopped at 400k
#   c8w5     : the flat status-gated MLP with each keypoint's one-hot colour code among 8 (k-means on pretraining frames)
#   nf       : the study's flat MLP without the encoder's 8 feature-head outputs per keypoint (fixed random projections)
#   track    : 8 colour codes, keypoints merged into persistent entity slots matched within their code, no features
set -e
variant=${1:-c8w5}; shift || true
case $variant in
  relation) extra=(--extractor relation --glimpse-size 5 --colour-codes 8) ;;
  c8w5) extra=(--extractor mlp --glimpse-size 5 --colour-codes 8) ;;
  nf) extra=(--extractor mlp --no-encoder-features) ;;
  track) extra=(--extractor mlp --glimpse-size 5 --colour-codes 8 --track --no-encoder-features) ;;
  *) echo "unknown variant $variant (relation, c8w5, nf, track)"; exit 2 ;;
esac
python experiments/ppo_keypoints.py --env ALE/Pong-v5 --agents mint --encoder pong --refine 5 --refine-snap 15 \
  "${extra[@]}" --timesteps 600000 --checkpoint-every 51200 --seeds 1 --threads 1 --no-progress \
  --out runs/pong_probe_s33 "$@"
