#!/usr/bin/env bash
# #16, thirty-fifth session: the Pong study's keypoint agent (shipped pong, --refine 5 --refine-snap 15
# --no-encoder-features) with the map extractor (--extractor map: each stacked frame's keypoints drawn as blobs on a
# 32x32 grid, read by a CNN, blind to rows that exchange objects) and --keypoint-lr 1e-3; at 600k it was ahead of the
# flat extractor with Fourier features (results/pong_agent_probes/). Same settings and held-out games as run.sh, its
# own folders (runs/pong_study_map, export results/atari_pong_study/map) so the study's exports stay as they are;
# label mint-map-rf5s15-nf-lr0.001; seed 0 first (add --seeds 3 for all; --agents mint objects for the objects agent
# with the same extractor); resumable: rerun.
set -e
python experiments/ppo_keypoints.py --env ALE/Pong-v5 --agents mint --encoder pong --refine 5 --refine-snap 15 \
  --no-encoder-features --extractor map --keypoint-lr 1e-3 \
  --timesteps 2000000 --checkpoint-every 51200 --seeds 1 --jobs 1 --threads 1 --no-progress \
  --out runs/pong_study_map --export results/atari_pong_study/map "$@"
