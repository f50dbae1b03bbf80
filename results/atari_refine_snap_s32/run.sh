#!/usr/bin/env bash
# #16 item 2 (s32): the encoders of the 3-seed detection runs scored again with background keypoints snapped in a
# 15 px window before the 5 px refinement (--refine 5 --refine-snap 15; the window chosen on a validation recording,
# env seeds 20000+, by probe.py: probe.out). No training: the cached encoders of those runs (their run.sh made them).
# Rows join each run's results.csv; the tables are copied here. Minutes, one core. Freeway and Boxing added
# the same session, after the first three. Flags given to this script are passed to every scoring command (the
# snap's distance became Euclidean the same session; `bash run.sh --rescore` scored the rows again with it).
set -e
EXTRA=("$@")
cd "$(dirname "$0")/../.."
run() {  # game, out folder, extra flags
  python experiments/atari_objects_detection.py --games "$1" --methods mint --seeds 3 --refine 5 --refine-snap 15 \
    --out "$2" --threads 1 --no-progress "${@:3}" "${EXTRA[@]}"
  if [ "$1" = Pong ]; then  # the Transporter's encoders of that run, the same post-processing
    python experiments/atari_objects_detection.py --games Pong --methods transporter --seeds 3 --refine 5 \
      --refine-snap 15 --out "$2" --threads 1 --no-progress "${EXTRA[@]}"
  fi
  mkdir -p "results/atari_refine_snap_s32/$1"
  cp "$2/results.csv" "$2/table.md" "results/atari_refine_snap_s32/$1/"
}
run Pong runs/aod_pong_3seeds
run Breakout runs/aod_seeds_s31_breakout-k32 -k 32
run MsPacman runs/aod_mspacman_3seeds
run Freeway runs/aod_seeds_s31_freeway-base
# Boxing: one seed (the s31 sweep's base encoder; results/atari_detection_seeds_s32/boxing.sh has 3)
python experiments/atari_objects_detection.py --games Boxing --methods mint --refine 5 --refine-snap 15 \
  --out runs/aod_sweep_s31_Boxing --threads 1 --no-progress "${EXTRA[@]}"
mkdir -p results/atari_refine_snap_s32/Boxing
cp runs/aod_sweep_s31_Boxing/results.csv runs/aod_sweep_s31_Boxing/table.md results/atari_refine_snap_s32/Boxing/
