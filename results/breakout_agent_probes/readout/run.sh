#!/usr/bin/env bash
# What the Breakout keypoint agent's keypoints carry (thirty-eighth session): detection and the linear read-out error
# (mint_rl.readout) of the paddle and the ball from the shipped breakout encoder's keypoints, snapped in 15 px and
# refined in 5 px as the agent gets them; 1,000 held-out frames; about 10 minutes on a loaded core.
set -e
OUT=runs/aod_breakout_readout_s38
python experiments/atari_objects_detection.py --games Breakout --encoder envs/pretrained/breakout.pt --refine 5 \
  --refine-snap 15 --out $OUT --no-progress --threads 1
cp $OUT/results.csv $OUT/table.md $OUT/budget.json results/breakout_agent_probes/readout/
