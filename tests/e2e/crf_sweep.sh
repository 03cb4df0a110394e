#!/usr/bin/env bash
# deeplab crf-sweep end to end: a grid point's scores equal segment --crf + evaluate with those
# parameters; 1 and 3 ranks give the same table and best point; kill -9 and --resume compute no
# unit twice and lose none; refinement, outputs and bad grids.
# usage: crf_sweep.sh DEEPLAB MAKE_TEST_FILES
set -u
bin=$1
tool=$2
source "$(dirname "$0")/lib.sh"
scratch work
export OMP_NUM_THREADS=1

"$bin" make-scenes --out "$work/scenes" --train 1 --val 12 --size 64 >/dev/null 2>&1 || { fail "make-scenes"; finish; exit; }
"$tool" model "$work/m.h5" largefov 11 0.125
val=$work/scenes/val.h5
"$bin" segment --model "$work/m.h5" --data "$val" --out "$work/probs.h5" --save-probs >/dev/null 2>&1 || fail "segment --save-probs"
table() { tail -n +2 "$1" | cut -d, -f1-9 | sort; }  # every column but the seconds

# 1. A grid point against segment --crf + evaluate with the same parameters, on all images. The
#    point (bi_w 5, the last row) runs on the lattices its group's first point (bi_w 4) built.
printf '[crf]\nbi_w = 4,5\nbi_xy_std = 40\nbi_rgb_std = 8\npos_w = 2\npos_xy_std = 2\niterations = 5\n' > "$work/one.ini"
printf '[crf]\nbi_w = 5\nbi_xy_std = 40\nbi_rgb_std = 8\npos_w = 2\npos_xy_std = 2\niterations = 5\n' > "$work/crf.ini"
expect "sweep of two points sharing their lattices" 0 "2 grid points.* [1-9][0-9]* CRFs on lattices built for an earlier point" -- \
  "$bin" crf-sweep --probs "$work/probs.h5" --data "$val" --grid "$work/one.ini" --out "$work/one" --images 0 --no-baseline
"$bin" segment --model "$work/m.h5" --data "$val" --out "$work/crf.h5" --crf --config "$work/crf.ini" --evaluate --json "$work/crf.json" >/dev/null 2>&1
sweep_scores=$(tail -1 "$work/one/results.csv" | cut -d, -f8,9)
segment_scores=$(/usr/bin/python3 -c "import json; e = json.load(open('$work/crf.json')); print('%.6f,%.6f' % (e['mean_iou'], e['pixel_accuracy']))")
[ "$sweep_scores" = "$segment_scores" ] && pass "sweep = segment --crf + evaluate ($sweep_scores)" || fail "sweep $sweep_scores, segment $segment_scores"

# 1b. The same with the network run on the images scaled down (--max-side 40 of 64): the sweep
#     scales as segment did.
"$bin" segment --model "$work/m.h5" --data "$val" --out "$work/probs40.h5" --save-probs --max-side 40 >/dev/null 2>&1 || fail "segment --max-side"
expect "sweep of two points, --max-side" 0 "2 grid points" -- "$bin" crf-sweep --probs "$work/probs40.h5" --data "$val" --grid "$work/one.ini" --out "$work/one40" --images 0 --no-baseline
"$bin" segment --model "$work/m.h5" --data "$val" --out "$work/crf40.h5" --crf --config "$work/crf.ini" --max-side 40 --evaluate --json "$work/crf40.json" >/dev/null 2>&1
sweep_scores=$(tail -1 "$work/one40/results.csv" | cut -d, -f8,9)
segment_scores=$(/usr/bin/python3 -c "import json; e = json.load(open('$work/crf40.json')); print('%.6f,%.6f' % (e['mean_iou'], e['pixel_accuracy']))")
[ "$sweep_scores" = "$segment_scores" ] && pass "--max-side: sweep = segment --crf + evaluate ($sweep_scores)" || fail "--max-side: sweep $sweep_scores, segment $segment_scores"

# 2. 1 rank and 3 ranks: the same table and the same best point, with a refinement round.
printf '[crf]\nbi_w = 3:5:1\nbi_xy_std = 30,60\nbi_rgb_std = 5\niterations = 3\n' > "$work/grid.ini"
expect "1 rank" 0 "grid points" -- "$bin" crf-sweep --probs "$work/probs.h5" --data "$val" --grid "$work/grid.ini" --out "$work/r1" --images 8 --refine 1
expect "3 ranks" 0 "on 3 rank" -- $mpirun 3 "$bin" crf-sweep --probs "$work/probs.h5" --data "$val" --grid "$work/grid.ini" --out "$work/r3" --images 8 --refine 1
[ "$(table "$work/r1/results.csv")" = "$(table "$work/r3/results.csv")" ] && pass "1 and 3 ranks: same results" || fail "results differ across rank counts"
cmp -s "$work/r1/best.ini" "$work/r3/best.ini" && pass "1 and 3 ranks: same best.ini" || fail "best.ini differs"
[ "$(grep -c '^1,' "$work/r1/results.csv")" -gt 0 ] && pass "a refinement round ran" || fail "no refinement round"
[ -s "$work/r1/heatmap.png" ] && grep -q '^\[crf\]' "$work/r1/best.ini" && pass "heatmap.png and best.ini" || fail "outputs missing"
expect "best.ini feeds segment" 0 "images" -- "$bin" segment --model "$work/m.h5" --data "$val" --out "$work/best.h5" --crf --config "$work/r1/best.ini"

# 2b. Refinement stays in the grid given: the defaults, scored beside it for comparison (here
#     better than every point of it), are not what it refines around. (A trailing / on --out.)
printf '[crf]\nbi_w = 40,60\nbi_xy_std = 300\nbi_rgb_std = 100,200\niterations = 3\n' > "$work/far.ini"
expect "a grid the defaults beat" 0 "the defaults \(outside the grid\) score higher" -- \
  "$bin" crf-sweep --probs "$work/probs.h5" --data "$val" --grid "$work/far.ini" --out "$work/far/" --images 8 --refine 1
refined=$(grep '^1,' "$work/far/results.csv" | cut -d, -f3 | sort -u | tr '\n' ' ')
[ "$refined" = "300 " ] && pass "refined around the grid's best (bi_xy_std 300), not the defaults' 121" \
  || fail "refinement left the grid: bi_xy_std '$refined'"
grep -q '^bi_xy_std = 300$' "$work/far/best.ini" && pass "best.ini is the grid's best" || fail "best.ini: $(grep bi_xy_std "$work/far/best.ini")"

# 3. kill -9 mid-sweep (units of 2 images), then --resume: every unit once, the same table.
printf '[crf]\nbi_w = 3:6:1\nbi_xy_std = 30,60,90\nbi_rgb_std = 5\niterations = 5\n' > "$work/big.ini"
args=(--probs "$work/probs.h5" --data "$val" --grid "$work/big.ini" --images 12 --block-images 2)
"$bin" crf-sweep "${args[@]}" --out "$work/straight" >/dev/null 2>&1 || fail "straight sweep"
$mpirun 2 "$bin" crf-sweep "${args[@]}" --out "$work/killed" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 2000); do [ "$(cat "$work/killed/units/"*.log 2>/dev/null | wc -l)" -ge 20 ] && break; sleep 0.005; done
kill -9 $pid 2>/dev/null; pkill -9 -f "crf-sweep.*$work/killed" 2>/dev/null; wait $pid 2>/dev/null
before=$(cat "$work/killed/units/"*.log | grep -c ' end$')
[ ! -e "$work/killed/results.csv" ] && [ "$before" -ge 1 ] && pass "killed after $before of 78 units" || fail "kill came too late ($before units)"
out=$($mpirun 2 "$bin" crf-sweep "${args[@]}" --out "$work/killed" --resume 2>&1)
grep -q "units computed, $before from an earlier run" <<<"$out" && pass "resume reused the $before finished units" || { fail "resume counts"; echo "$out" | tail -3; }
total=$(cat "$work/killed/units/"*.log | grep -c ' end$')
unique=$(cat "$work/killed/units/"*.log | grep ' end$' | awk '{ print $3, $4, $5, $6, $7, $8, $9 }' | sort -u | wc -l)
[ "$total" = 78 ] && [ "$unique" = 78 ] && pass "78 units recorded, none twice" || fail "$total units recorded, $unique distinct (expected 78)"
[ "$(table "$work/straight/results.csv")" = "$(table "$work/killed/results.csv")" ] && pass "killed and resumed: the straight run's table" || fail "resumed table differs"

# 4. Bad input.
printf '[crf]\nbi_w = 6:3:1\n' > "$work/bad.ini"
expect "a backwards range" 1 "bad.ini line 2.*FROM:TO:STEP" -- "$bin" crf-sweep --probs "$work/probs.h5" --data "$val" --grid "$work/bad.ini" --out "$work/x"
printf '[crf]\nbi_weight = 3\n' > "$work/bad2.ini"
expect "an unknown key" 1 "bad2.ini line 2.*unknown key 'bi_weight'" -- "$bin" crf-sweep --probs "$work/probs.h5" --data "$val" --grid "$work/bad2.ini" --out "$work/x"
printf 'bi_w = 3\n[crf]\nbi_xy_std = 30\n' > "$work/bad3.ini"
expect "a key before [crf]" 1 "bad3.ini line 1: 'bi_w' before the \[crf\] section" -- "$bin" crf-sweep --probs "$work/probs.h5" --data "$val" --grid "$work/bad3.ini" --out "$work/x"
printf '[crf]\nbi_w = 3\nbi_w = 5\n' > "$work/bad4.ini"
expect "a key given twice" 1 "bad4.ini line 3: bi_w is given twice" -- "$bin" crf-sweep --probs "$work/probs.h5" --data "$val" --grid "$work/bad4.ini" --out "$work/x"
printf '[crf]\niterations = 2.5\n' > "$work/bad5.ini"
expect "a fractional iteration count" 1 "bad5.ini line 2: iterations 2.5: expected a whole number" -- "$bin" crf-sweep --probs "$work/probs.h5" --data "$val" --grid "$work/bad5.ini" --out "$work/x"
cp "$work/probs.h5" "$work/negative.h5"
/usr/bin/python3 -c 'import sys, h5py; f = h5py.File(sys.argv[1], "r+"); f["images/000003/probs"][0, 1, 1] = -0.5' "$work/negative.h5"
expect "a negative probability" 1 "negative.h5: entry images/000003/probs holds a negative probability" -- \
  "$bin" crf-sweep --probs "$work/negative.h5" --data "$val" --grid "$work/grid.ini" --out "$work/neg" --images 0
[ ! -e "$work/neg" ] && pass "a refused input leaves no sweep folder" || fail "a refused input left $(ls "$work/neg")"
# The same when the images are too many to keep (read per unit): still checked before anything is written.
"$bin" make-scenes --out "$work/big" --train 1 --val 4 --size 400 >/dev/null 2>&1
"$bin" segment --model "$work/m.h5" --data "$work/big/val.h5" --out "$work/big-probs.h5" --save-probs >/dev/null 2>&1 || fail "segment big"
/usr/bin/python3 -c 'import sys, h5py; f = h5py.File(sys.argv[1], "r+"); f["images/000003/probs"][0, 1, 1] = -0.5' "$work/big-probs.h5"
expect "a negative probability, images read per unit" 1 "big-probs.h5: entry images/000003/probs holds a negative probability" -- \
  "$bin" crf-sweep --probs "$work/big-probs.h5" --data "$work/big/val.h5" --grid "$work/grid.ini" --out "$work/bigneg" --images 0 --memory-mb 1
[ ! -e "$work/bigneg" ] && pass "images read per unit: a refused input leaves no sweep folder" || fail "left $(ls "$work/bigneg")"
"$bin" segment --model "$work/m.h5" --data "$val" --out "$work/noprobs.h5" >/dev/null 2>&1
expect "predictions without probabilities" 1 "noprobs.h5: holds no probabilities" -- "$bin" crf-sweep --probs "$work/noprobs.h5" --data "$val" --grid "$work/grid.ini" --out "$work/y"
expect "an earlier sweep without --resume" 1 "holds an earlier sweep" -- "$bin" crf-sweep --probs "$work/probs.h5" --data "$val" --grid "$work/grid.ini" --out "$work/r1"

# 5. Nothing to score, and what a failed run leaves behind.
"$bin" make-scenes --out "$work/empty" --train 1 --val 0 --size 64 >/dev/null 2>&1
"$bin" segment --model "$work/m.h5" --data "$work/empty/val.h5" --out "$work/empty-probs.h5" --save-probs >/dev/null 2>&1 ||
  fail "segment of 0 images"
expect "crf-sweep on 0 images" 1 "val.h5: holds no images, so there is nothing to score" -- \
  "$bin" crf-sweep --probs "$work/empty-probs.h5" --data "$work/empty/val.h5" --grid "$work/grid.ini" --out "$work/z"
[ ! -e "$work/z" ] && pass "crf-sweep on 0 images wrote nothing" || fail "crf-sweep on 0 images left $(ls "$work/z")"
expect "evaluate on 0 images" 1 "val.h5: holds no images, so there is nothing to score" -- \
  "$bin" evaluate --pred "$work/empty-probs.h5" --data "$work/empty/val.h5"
mkdir -p "$work/failed/units" && echo "left by a run that failed early" >"$work/failed/settings"
expect "a plain rerun after a run that failed before its first unit" 0 "grid points" -- \
  "$bin" crf-sweep --probs "$work/probs.h5" --data "$val" --grid "$work/one.ini" --out "$work/failed" --images 2
finish
