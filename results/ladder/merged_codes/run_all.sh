#!/bin/bash
# merged-codes (oracle) and equal-codes probes, interleaved by seed, 2 at a time (a queue); skips finished runs
cd "$(dirname "$0")/../../.."  # the project root
job() { s=$1; m=$2; d=runs/${m}_codes/seed$s; f=$d/evaluations.csv
  if [ -f $f ] && [ $(wc -l < $f) -ge 17 ]; then return; fi
  rm -rf $d
  python results/ladder/merged_codes/merged_codes_probe.py $s runs/pretrain_catch_s1/encoder.pt runs/catch_s17 $d $m > runs/${m}_codes_seed$s.log 2>&1; }
export -f job
for s in 2 6 8 0 1 3 4 5 7 9; do echo "$s merged"; echo "$s equal"; done | xargs -P 2 -L 1 bash -c 'job $0 $1'
