#!/usr/bin/env bash
# #16 item 2 (s32): the encoders of `run.sh SETTING` scored again with background keypoints snapped in a 15 px window
# before the 5 px refinement (--refine-snap 15, results/atari_refine_snap_s32/). No training (run.sh made the
# encoders); the rows join the setting's table, copied here. Seconds.
#   bash snap.sh breakout-k64 | pong-k32   [more flags for the scoring command, e.g. --rescore]
set -e
case "${1:?give a setting: breakout-k64 or pong-k32}" in
  breakout-k64) G=Breakout; FLAGS="-k 64" ;;
  pong-k32)     G=Pong;     FLAGS="-k 32" ;;
  *) echo "unknown setting $1" >&2; exit 2 ;;
esac
python experiments/atari_objects_detection.py --games $G --methods mint --seeds 3 --refine 5 --refine-snap 15 $FLAGS \
  --out "runs/aod_seeds_s32_$1" --threads 1 --no-progress "${@:2}"
mkdir -p "results/atari_detection_seeds_s32/$1"
cp "runs/aod_seeds_s32_$1/results.csv" "runs/aod_seeds_s32_$1/table.md" "results/atari_detection_seeds_s32/$1/"
