#!/usr/bin/env bash
# Training learns: configs/scenes-tiny.ini on the built-in scenes reaches a training pixel accuracy
# well above the share of background (what predicting background everywhere scores), the CRF on
# top of it raises mean IoU on the val scenes, and a full-width LargeFOV fits a 4-image set
# almost perfectly.
# usage: train_learns.sh DEEPLAB CONFIG_DIR
set -u
bin=$1
configs=$2
source "$(dirname "$0")/lib.sh"
scratch work
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}

# Mean pixel accuracy over the last N rows of a train_log.csv.
tail_accuracy() { tail -n "$2" "$1" | awk -F, '{ s += $4 } END { printf "%.3f", s / NR }'; }

"$bin" make-scenes --out "$work/scenes" --train 400 --val 100 >/dev/null 2>&1 || { fail "make-scenes"; finish; exit; }
crop=$(sed -n 's/^crop_size *= *\([0-9]*\).*/\1/p' "$configs/scenes-tiny.ini")
# What "background everywhere" scores: the background share of the labelled pixels the loss sees
# (random crops, sampled on the stride-8 grid as the labels are shrunk).
background=$(/usr/bin/python3 - "$work/scenes/train.h5" "$crop" <<'PY'
import sys, h5py, numpy as np
rng, crop = np.random.default_rng(0), int(sys.argv[2])
with h5py.File(sys.argv[1], "r") as f:
    labels = [f["images"][name]["label"][()] for name in f["images"]]
h = (crop + 7) // 8
grid = np.rint(np.arange(h) * (crop - 1) / max(h - 1, 1)).astype(int)
background = labelled = 0
for _ in range(4000):
    l = labels[rng.integers(len(labels))]
    oy, ox = rng.integers(l.shape[0] - crop + 1), rng.integers(l.shape[1] - crop + 1)
    s = l[oy:oy + crop, ox:ox + crop][np.ix_(grid, grid)]
    background += (s == 0).sum()
    labelled += (s != 255).sum()
print("%.3f" % (background / labelled))
PY
)
expect "tiny config trains" 0 "finished 1500 iterations" -- \
  "$bin" train --config "$configs/scenes-tiny.ini" --data "$work/scenes/train.h5" --out "$work/tiny"
accuracy=$(tail_accuracy "$work/tiny/train_log.csv" 100)
if awk -v a="$accuracy" -v b="$background" 'BEGIN { exit !(a > b + 0.05) }'; then
  pass "tiny config learns: pixel accuracy $accuracy over the last 100 iterations, background alone $background"
else
  fail "tiny config: pixel accuracy $accuracy, background alone $background"
fi
[ -s "$work/tiny/loss.png" ] && pass "loss curve written" || fail "no loss.png"

# The CRF on top of the trained network (with the demo's parameters) raises mean IoU on the val scenes.
for mode in net crf; do
  flags=(--save-probs); [ $mode = crf ] && flags=(--crf --config "$configs/crf-scenes.ini")
  "$bin" segment --model "$work/tiny/final.h5" --data "$work/scenes/val.h5" --out "$work/$mode.h5" "${flags[@]}" \
    --evaluate --json "$work/$mode.json" >/dev/null 2>&1 || fail "segment $mode"
done
miou() { sed -E 's/.*"mean_iou": ([0-9.]+).*/\1/' "$1"; }
net=$(miou "$work/net.json"); crf=$(miou "$work/crf.json")
awk -v a="$crf" -v b="$net" 'BEGIN { exit !(a > b) }' && pass "CRF raises mean IoU: network $net, network + CRF $crf" \
  || fail "CRF does not help: network $net, network + CRF $crf"

# The CRF sweep on the trained network's probabilities: the point of configs/crf-scenes.ini scores
# exactly what segment --crf + evaluate scored with it; a small grid's best against the defaults.
"$bin" crf-sweep --probs "$work/net.h5" --data "$work/scenes/val.h5" --grid "$configs/crf-scenes.ini" \
  --out "$work/one" --images 0 --no-baseline >/dev/null 2>&1 || fail "crf-sweep of one point"
sweep_scores=$(tail -1 "$work/one/results.csv" | cut -d, -f8,9)
segment_scores=$(/usr/bin/python3 -c "import json; e = json.load(open('$work/crf.json')); print('%.6f,%.6f' % (e['mean_iou'], e['pixel_accuracy']))")
[ "$sweep_scores" = "$segment_scores" ] && pass "sweep point = segment --crf + evaluate: $sweep_scores" \
  || fail "sweep point $sweep_scores, segment --crf $segment_scores"
printf '[crf]\nbi_w = 4,6,8\nbi_xy_std = 50,121\nbi_rgb_std = 5,10\niterations = 10\n' > "$work/grid.ini"
out=$("$bin" crf-sweep --probs "$work/net.h5" --data "$work/scenes/val.h5" --grid "$work/grid.ini" --out "$work/sweep" --images 50 2>&1)
best=$(sed -nE 's/^best .*mean IoU +([0-9.]+)%.*/\1/p' <<<"$out"); default=$(sed -nE 's/^default .*mean IoU +([0-9.]+)%.*/\1/p' <<<"$out")
# The grid holds the defaults, so best >= default says nothing; instead: the points score
# differently (the CRF's parameters matter), the reported best is the table's maximum and the
# reported default is the defaults' row.
if check=$(/usr/bin/python3 - "$work/sweep/results.csv" "$best" "$default" 2>&1 <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
best, default = float(sys.argv[2]), float(sys.argv[3])
scores = [100 * float(r["mean_iou"]) for r in rows]
defaults = [100 * float(r["mean_iou"]) for r in rows
            if (float(r["bi_w"]), float(r["bi_xy_std"]), float(r["bi_rgb_std"]), float(r["pos_w"]), float(r["pos_xy_std"])) == (4, 121, 5, 3, 3)]
assert len(rows) == 12, f"{len(rows)} points, expected 3 x 2 x 2"
assert max(scores) - min(scores) > 0.01, f"every point scores {max(scores):.3f}%: the parameters change nothing"
assert abs(best - max(scores)) < 0.006, f"best {best}% is not the table's maximum {max(scores):.3f}%"
assert len(defaults) == 1 and abs(default - defaults[0]) < 0.006, f"default {default}% is not the defaults' row {defaults}"
print(f"{len(rows)} points from {min(scores):.2f}% to {max(scores):.2f}%; best {best}%, default {default}%")
PY
); then pass "sweep: $check"; else fail "sweep: best '$best', default '$default': $check"; fi

"$bin" make-scenes --out "$work/four" --train 4 --val 1 --size 64 >/dev/null 2>&1
expect "full-width LargeFOV on 4 images" 0 "finished 60 iterations" -- \
  "$bin" train --data "$work/four/train.h5" --out "$work/overfit" --model.num_classes 11 --model.dropout 0 \
  --solver.batch 4 --solver.max_iter 60 --solver.snapshot 0 --solver.lr_policy fixed --data.crop_size 64 --data.mirror false
accuracy=$(tail_accuracy "$work/overfit/train_log.csv" 5)
awk -v a="$accuracy" 'BEGIN { exit !(a > 0.9) }' && pass "full width overfits 4 images: pixel accuracy $accuracy" \
  || fail "full width on 4 images: pixel accuracy only $accuracy"
finish
