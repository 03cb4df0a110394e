#!/usr/bin/env bash
# deeplab pretrain end to end, tiny: a VGG-16 classifier on garment photographs under 2 ranks
# writes its model, log, pictures and test accuracy; SIGTERM stops it (143) and --resume auto
# finishes it bitwise as a straight run would; `train --init` converts it into LargeFOV exactly
# as `export-caffe` + `import --from-vgg16` does; wrong kinds are refused with exit 1.
# usage: pretrain.sh DEEPLAB MAKE_TEST_FILES
set -u
bin=$1
tool=$2
source "$(dirname "$0")/lib.sh"
scratch work
export OMP_NUM_THREADS=1

tiny=(--model.width 0.0625 --model.input_size 64 --data.scale_min 2 --data.scale_max 2.3 --solver.batch 4
      --solver.base_lr 0.001 --solver.display 5 --data.loader_threads 1 --test-images 40)
same() {  # NAME A B RTOL
  local out
  if out=$("$tool" compare-models "$2" "$3" "$4" 2>&1); then pass "$1 ($out)"; else fail "$1: $out"; fi
}

# 1. Two ranks: the model, the log, the pictures, and the accuracy on 40 test garments.
expect "pretrain on 2 ranks" 0 "top-1 accuracy [0-9.]+% on 40 test garments" -- \
  $mpirun 2 "$bin" pretrain "${tiny[@]}" --solver.max_iter 6 --out "$work/p2"
for f in final.h5 train_log.csv loss.png examples.png accuracy.txt accuracy.json confusion.png; do
  [ -s "$work/p2/$f" ] && pass "pretrain wrote $f" || fail "pretrain did not write $f"
done
expect "the model is a vgg16 classifier" 0 "vgg16" -- "$bin" info "$work/p2/final.h5"
/usr/bin/python3 - "$work/p2/accuracy.json" <<'PY' && pass "accuracy.json: 40 images, 10 classes, counts add up" || fail "accuracy.json"
import json, sys
a = json.load(open(sys.argv[1]))
assert a["images"] == 40 and len(a["per_class_accuracy"]) == 10, a
assert sum(map(sum, a["confusion"])) == 40
right = sum(a["confusion"][i][i] for i in range(10))
assert abs(a["top1"] - right / 40) < 1e-6, a
PY

# 2. SIGTERM mid-run: exit 143 after a checkpoint; --resume auto gives the straight run's model.
long=("${tiny[@]}" --solver.max_iter 30 --solver.snapshot 0)
"$bin" pretrain "${long[@]}" --out "$work/straight" >/dev/null 2>&1 || fail "straight pretrain"
"$bin" pretrain "${long[@]}" --out "$work/stopped" >"$work/stopped.log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do grep -q "iteration 5/30" "$work/stopped.log" && break; sleep 0.01; done
kill -TERM $pid
wait $pid
status=$?
[ "$status" -eq 143 ] && pass "SIGTERM: exit 143" || fail "SIGTERM: exit $status (log: $(tail -2 "$work/stopped.log"))"
[ ! -e "$work/stopped/final.h5" ] && pass "SIGTERM: no final.h5 yet" || fail "SIGTERM: final.h5 written"
expect "resume auto after SIGTERM" 0 "top-1 accuracy" -- "$bin" pretrain "${long[@]}" --out "$work/stopped" --resume auto
same "stopped and resumed: bitwise the straight run" "$work/straight/final.h5" "$work/stopped/final.h5" 0
cmp -s "$work/straight/accuracy.json" "$work/stopped/accuracy.json" && pass "same test accuracy" || fail "accuracy differs"

# 3. The paper's conversion, two ways in: train --init (max_iter 0: the starting point) and the
# Caffe route.
fine=(--data "$work/scenes/train.h5" --model.num_classes 11 --model.width 0.0625 --data.crop_size 33
      --solver.batch 2 --solver.max_iter 0 --solver.seed 3 --data.loader_threads 1)
"$bin" make-scenes --out "$work/scenes" --train 4 --val 1 --size 48 --voc-layout >/dev/null 2>&1 || fail "make-scenes"
expect "train --init converts the classifier" 0 "converted from the VGG-16 classifier.*fc6 \(every 4th filter, taps of 2x2 subsampled to 3x3\)" -- \
  "$bin" train "${fine[@]}" --init "$work/p2/final.h5" --out "$work/init"
expect "export-caffe the classifier" 0 "wrote" -- "$bin" export-caffe --model "$work/p2/final.h5" --out "$work/vgg.caffemodel"
expect "import --from-vgg16" 0 "wrote" -- "$bin" import --from-vgg16 --caffemodel "$work/vgg.caffemodel" --model.kind largefov \
  --model.num_classes 11 --model.width 0.0625 --seed 3 --out "$work/imported.h5"
same "train --init equals import --from-vgg16" "$work/imported.h5" "$work/init/final.h5" 0
# The conversion is not a copy of the fresh network: breaking it would leave fresh weights here.
"$bin" train "${fine[@]}" --out "$work/fresh" >/dev/null 2>&1
if "$tool" compare-models "$work/fresh/final.h5" "$work/init/final.h5" 0 >/dev/null 2>&1; then
  fail "the converted model equals a fresh one"
else
  pass "the converted model differs from a fresh one"
fi

# 4. Garments pasted onto photographs (here the scenes' own JPEGs): other canvases, the same
# garments and labels, deterministic.
for run in a b; do
  expect "make-scenes --backgrounds ($run)" 0 "backgrounds: 5 photographs" -- "$bin" make-scenes --out "$work/photo-$run" \
    --train 3 --val 1 --size 40 --backgrounds "$work/scenes/voc/JPEGImages"
done
"$bin" make-scenes --out "$work/plain" --train 3 --val 1 --size 40 >/dev/null 2>&1 || fail "make-scenes (plain)"
/usr/bin/python3 - "$work" <<'PY' && pass "photograph canvases: new pixels, same labels, deterministic" || fail "photograph canvases"
import sys, h5py, numpy as np
w = sys.argv[1]
def entries(path):
    with h5py.File(path, "r") as f:
        return [(f["images/%06d/rgb" % i][()], f["images/%06d/label" % i][()]) for i in range(3)]
a, b, plain = entries(w + "/photo-a/train.h5"), entries(w + "/photo-b/train.h5"), entries(w + "/plain/train.h5")
for (ia, la), (ib, lb), (ip, lp) in zip(a, b, plain):
    assert np.array_equal(ia, ib) and np.array_equal(la, lb)
    assert not np.array_equal(ia, ip)
    assert (la > 0).sum() > 0
PY
mkdir -p "$work/empty"
expect "make-scenes --backgrounds: an empty folder is refused" 1 "empty: no images found" -- \
  "$bin" make-scenes --out "$work/bad-scenes" --train 1 --val 1 --backgrounds "$work/empty"

# 5. Wrong kinds, named.
expect "train refuses --model.kind vgg16" 2 "classifier: train it with deeplab pretrain" -- \
  "$bin" train "${fine[@]}" --model.kind vgg16 --out "$work/bad"
expect "pretrain refuses a segmentation kind" 2 "model.kind must be vgg16" -- \
  "$bin" pretrain "${tiny[@]}" --model.kind largefov --solver.max_iter 1 --out "$work/bad"
wide=("${fine[@]}")
wide[5]=0.125  # --model.width
expect "a classifier of another width is refused" 1 "final.h5: layer 'conv1_1'.*width" -- \
  "$bin" train "${wide[@]}" --init "$work/p2/final.h5" --out "$work/bad"
expect "segment refuses a classifier" 1 "classifier does not segment; turn it into DeepLab with train --init" -- \
  "$bin" segment --model "$work/p2/final.h5" --data "$work/scenes/val.h5" --out "$work/bad.h5"
expect "import --from-vgg16 into a classifier is refused" 1 "classifier" -- \
  "$bin" import --from-vgg16 --caffemodel "$work/vgg.caffemodel" --model.kind vgg16 --model.input_size 64 --model.num_classes 10 --model.width 0.0625 --out "$work/bad.h5"
# SIGTERM while the finished classifier is being tested: 143, its model kept, no accuracy
# claimed (a scheduler's time limit must not read as a finished job).
"$bin" pretrain --model.width 0.0625 --model.input_size 32 --solver.batch 4 --solver.max_iter 2 --out "$work/pt" \
  >"$work/pt.log" 2>&1 &
pid=$!
for _ in $(seq 1 400); do grep -q "finished 2 iterations" "$work/pt.log" && break; sleep 0.025; done
kill -TERM $pid
wait $pid
status=$?
[ $status -eq 143 ] && [ -s "$work/pt/final.h5" ] && [ ! -e "$work/pt/accuracy.txt" ] &&
  grep -q "stopped by signal 15 while classifying" "$work/pt.log" &&
  pass "SIGTERM while testing the classifier: 143, final.h5 kept, no accuracy" ||
  fail "SIGTERM while testing: exit $status; $(tail -2 "$work/pt.log")"

finish
