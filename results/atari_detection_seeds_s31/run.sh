#!/usr/bin/env bash
# #16 item 2 (s31): settings that led a one-seed sweep, with 3 pretraining seeds (frames and initialisation), MINT,
# keypoints refined in a 5 px window, 1,000 held-out frames, scored on last-frame and pooled ("both frames") boxes.
# One folder per (game, setting), so two run side by side; each writes its table into this folder.
#   bash run.sh pong-mce400      Pong, w_mce 400 (s29 sweep, seed 0: player 100, enemy 37, ball 48 %)
#   bash run.sh pong-k8          Pong, K 8 (s29 sweep, seed 0: 69 / 98 / 58 %)
#   bash run.sh mspacman-mce25   MsPacman, w_mce 25 (s31 sweep, seed 0: Ms Pac-Man 49, ghosts 49 %)
#   bash run.sh breakout-k8      Breakout, K 8 (s31 sweep, seed 0: paddle 87, ball 21 %)
#   bash run.sh breakout-k32     Breakout, K 32 (s31 sweep, seed 0: paddle 92, ball 9 %)
#   bash run.sh breakout-base    Breakout, the base setting (s31 sweep, seed 0: paddle 11, ball 2 %), for comparison
#   bash run.sh freeway-mce25    Freeway, w_mce 25 (s31 sweep, seed 0: chicken 60, cars 19 %)
#   bash run.sh freeway-base     Freeway, the base setting (s31 sweep, seed 0: chicken 38, cars 10 %), for comparison
# The base setting's 3 seeds are in results/atari_detection_pong_3seeds/. Resumable: rerun.
set -e
case "${1:?give a setting: pong-mce400, pong-k8, mspacman-mce25, breakout-k8, breakout-k32, breakout-base, freeway-mce25 or freeway-base}" in
  pong-mce400)    G=Pong;     FLAGS="--w-mce 400" ;;
  pong-k8)        G=Pong;     FLAGS="-k 8" ;;
  mspacman-mce25) G=MsPacman; FLAGS="--w-mce 25" ;;
  breakout-k8)    G=Breakout; FLAGS="-k 8" ;;
  breakout-k32)   G=Breakout; FLAGS="-k 32" ;;
  breakout-base)  G=Breakout; FLAGS="" ;;
  freeway-mce25)  G=Freeway;  FLAGS="--w-mce 25" ;;
  freeway-base)   G=Freeway;  FLAGS="" ;;
  *) echo "unknown setting $1" >&2; exit 2 ;;
esac
python experiments/atari_objects_detection.py --games $G --methods mint --seeds 3 --refine 5 $FLAGS \
  --out "runs/aod_seeds_s31_$1" --threads 1 --no-progress
mkdir -p "results/atari_detection_seeds_s31/$1"
cp "runs/aod_seeds_s31_$1/results.csv" "runs/aod_seeds_s31_$1/table.md" "results/atari_detection_seeds_s31/$1/"
