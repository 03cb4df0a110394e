#!/usr/bin/env bash
# deeplab crf-sweep's throughput: grid points per second on 1 and 2 ranks, and the share of rank
# time spent idle (waiting for the others at the end of a round), on 50 built-in val scenes with
# a 12-point grid. usage: sweep_speed.sh DEEPLAB MAKE_TEST_FILES
set -euo pipefail
deeplab=$1
tool=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
"$deeplab" make-scenes --out "$work/scenes" --train 1 --val 50 >/dev/null 2>&1
"$tool" model "$work/m.h5" largefov 11 0.25
"$deeplab" segment --model "$work/m.h5" --data "$work/scenes/val.h5" --out "$work/p.h5" --save-probs >/dev/null 2>&1
printf '[crf]\nbi_w = 3:6:1\nbi_xy_std = 50,121,160\nbi_rgb_std = 5\n' > "$work/grid.ini"
printf '%-34s %12s %12s\n' "crf-sweep, 12 points x 50 scenes" "points/s" "idle"
for ranks in 1 2; do
  launch=()
  [ "$ranks" = 2 ] && launch=(mpirun --oversubscribe --bind-to none -np 2)
  line=$("${launch[@]}" "$deeplab" crf-sweep --probs "$work/p.h5" --data "$work/scenes/val.h5" --grid "$work/grid.ini" \
         --out "$work/s$ranks" --images 50 --no-baseline 2>&1 | grep "points/s")
  rate=$(sed -E 's/.*\(([0-9.]+) points\/s.*/\1/' <<<"$line")
  idle=$(sed -E 's/.*idle ([0-9.]+%).*/\1/' <<<"$line")
  printf '%-34s %12s %12s\n' "$ranks rank(s)" "$rate" "$idle"
done
