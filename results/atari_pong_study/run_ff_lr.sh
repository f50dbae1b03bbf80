#!/usr/bin/env bash
# #16, thirty-fourth session: the Pong study's keypoint and objects agents with the two changes the 600k probes of
# results/pong_agent_probes/ favoured for PPO on object rows: each row's (x, y) also as sinusoids at 6 octaves
# (--fourier-features 6) and a 4x learning rate for these agents (--keypoint-lr 1e-3, decaying linearly like the
# shared 2.5e-4; pixels keep the zoo's). Same study folder, settings and held-out games as run.sh (labels
# mint-rf5s15-nf-ff6-lr0.001, objects-ff6-lr0.001); seed 0 first (add --seeds 3 for all); resumable: rerun.
set -e
bash results/atari_pong_study/run.sh --agents mint objects --fourier-features 6 --keypoint-lr 1e-3 --seeds 1 --jobs 2 "$@"
