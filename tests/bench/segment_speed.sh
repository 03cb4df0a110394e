#!/usr/bin/env bash
# deeplab segment's throughput on the built-in val scenes (100 images of 160x160): the network
# alone and with the CRF, on 1 rank (all cores) and 2 ranks (sharing them), for the demo's
# quarter-width LargeFOV and the paper's full width. Random weights: speed does not depend on them.
# usage: segment_speed.sh DEEPLAB MAKE_TEST_FILES
set -euo pipefail
deeplab=$1
tool=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
"$deeplab" make-scenes --out "$work/scenes" --train 1 --val 100 >/dev/null 2>&1
printf '%-28s %-10s %8s %12s\n' "segment, 100 val scenes" "" ranks "images/s"
for width in 0.25 1; do
  "$tool" model "$work/m.h5" largefov 11 "$width"
  for crf in "" --crf; do
    for ranks in 1 2; do
      launch=()
      [ "$ranks" = 2 ] && launch=(mpirun --oversubscribe --bind-to none -np 2)
      line=$("${launch[@]}" "$deeplab" segment --model "$work/m.h5" --data "$work/scenes/val.h5" --out "$work/p.h5" \
             --overwrite $crf 2>&1 | grep "images/s on")
      rate=$(sed -E 's/.* ([0-9.]+) images\/s on.*/\1/' <<<"$line")
      printf '%-28s %-10s %8s %12s\n' "LargeFOV width $width" "${crf:-no CRF}" "$ranks" "$rate"
    done
  done
done
