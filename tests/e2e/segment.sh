#!/usr/bin/env bash
# deeplab segment and evaluate end to end: 1 rank and 3 ranks give the same file byte for byte;
# kill -9 then --resume gives the same file and recomputes only the missing pieces (counted);
# float16 probabilities; overlays; the evaluation JSON; clear errors that leave outputs alone.
# usage: segment.sh DEEPLAB MAKE_TEST_FILES
set -u
bin=$1
tool=$2
source "$(dirname "$0")/lib.sh"
scratch work
export OMP_NUM_THREADS=1

"$bin" make-scenes --out "$work/scenes" --train 2 --val 30 --size 64 >/dev/null 2>&1 || { fail "make-scenes"; finish; exit; }
"$bin" make-scenes --out "$work/fewer" --train 2 --val 20 --size 64 >/dev/null 2>&1
"$tool" model "$work/m.h5" largefov 11 0.125
"$tool" model "$work/m21.h5" largefov 21 0.125
val=$work/scenes/val.h5

# 1. One rank and three ranks, with the CRF and the probabilities: the same bytes.
expect "1 rank" 0 "30 images \(30 computed, 0 from" -- "$bin" segment --model "$work/m.h5" --data "$val" --out "$work/one.h5" --crf --save-probs --piece-images 4
expect "3 ranks" 0 "30 images \(30 computed" -- $mpirun 3 "$bin" segment --model "$work/m.h5" --data "$val" --out "$work/three.h5" --crf --save-probs --piece-images 4
cmp -s "$work/one.h5" "$work/three.h5" && pass "1 and 3 ranks: byte-identical files" || fail "1 and 3 ranks differ"
[ ! -e "$work/one.h5.parts" ] && pass "pieces removed after assembly" || fail "pieces left behind"
/usr/bin/python3 - "$work/one.h5" <<'PY' && pass "probabilities are float16, labels uint8, names kept" || fail "file contents"
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as f:
    e = f["images/000007"]
    assert e["probs"].dtype == np.float16 and e["probs"].shape == (11, 9, 9), (e["probs"].dtype, e["probs"].shape)
    assert e["labels"].dtype == np.uint8 and e["labels"].shape == (64, 64)
    assert e.attrs["name"].decode() == "val_7"
    p = e["probs"][()].astype(np.float64)
    assert abs(p.sum(axis=0) - 1).max() < 0.01
    assert f.attrs["count"] == 30 and f.attrs["crf"] == 1
PY

# bf16 (where the CPU computes it): the labels of f32's run on nearly every pixel.
if grep -qwE 'avx512_bf16|amx_bf16' /proc/cpuinfo; then
  expect "segment --precision bf16" 0 "30 images \(30 computed" -- \
    "$bin" segment --model "$work/m.h5" --data "$val" --out "$work/bf16.h5" --crf --save-probs --piece-images 4 --precision bf16
  if out=$(/usr/bin/python3 - "$work/one.h5" "$work/bf16.h5" 2>&1 <<'PY'
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as a, h5py.File(sys.argv[2], "r") as b:
    same = total = 0
    for k in a["images"]:
        x, y = a["images"][k]["labels"][()], b["images"][k]["labels"][()]
        same += int((x == y).sum()); total += x.size
print("%.2f%% of %d pixels" % (100.0 * same / total, total))
assert same >= 0.99 * total
PY
  ); then pass "bf16 labels agree with f32's: $out"; else fail "bf16 labels: $out"; fi
fi

# 2. kill -9 while segmenting, then --resume: the same file; only missing pieces computed.
"$bin" segment --model "$work/m.h5" --data "$val" --out "$work/killed.h5" --crf --save-probs --piece-images 4 >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 1000); do [ -e "$work/killed.h5.parts/piece-000002.h5" ] && break; sleep 0.005; done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
pieces=$(ls "$work/killed.h5.parts"/piece-*.h5 2>/dev/null | wc -l)
[ ! -e "$work/killed.h5" ] && [ "$pieces" -ge 1 ] && pass "killed with $pieces of 8 pieces written" || fail "kill -9 came too late ($pieces pieces)"
out=$("$bin" segment --model "$work/m.h5" --data "$val" --out "$work/killed.h5" --crf --save-probs --piece-images 4 --resume 2>&1)
reused=$(sed -nE 's/.*computed, ([0-9]+) from an interrupted run.*/\1/p' <<<"$out")
computed=$(sed -nE 's/.*\(([0-9]+) computed,.*/\1/p' <<<"$out")
[ "$reused" = $((pieces * 4)) ] && [ "$((computed + reused))" = 30 ] && pass "resume reused $reused images, computed $computed" \
  || fail "resume counts: computed '$computed', reused '$reused' with $pieces pieces"
cmp -s "$work/one.h5" "$work/killed.h5" && pass "killed and resumed: byte-identical to the straight run" || fail "resumed file differs"
expect "resume of a complete file does nothing" 0 "is complete" -- "$bin" segment --model "$work/m.h5" --data "$val" --out "$work/killed.h5" --crf --save-probs --piece-images 4 --resume

# 3. Evaluation: 1 and 3 ranks agree; JSON fields; confusion PNG; inline evaluation; overlays.
"$bin" evaluate --pred "$work/one.h5" --data "$val" --json "$work/e1.json" --confusion-png "$work/cm.png" >/dev/null 2>&1
$mpirun 3 "$bin" evaluate --pred "$work/one.h5" --data "$val" --json "$work/e3.json" >/dev/null 2>&1
cmp -s "$work/e1.json" "$work/e3.json" && pass "evaluate: 1 and 3 ranks agree" || fail "evaluate: ranks disagree"
/usr/bin/python3 - "$work/e1.json" <<'PY' && pass "evaluation JSON has its fields" || fail "evaluation JSON"
import json, sys
e = json.load(open(sys.argv[1]))
assert 0 <= e["mean_iou"] <= 1 and 0 <= e["pixel_accuracy"] <= 1 and e["images"] == 30
assert set(e["per_class_iou"]) >= {"background", "trouser", "ankle boot"}
assert sum(map(sum, e["confusion"])) == e["pixels"]
PY
[ -s "$work/cm.png" ] && pass "confusion matrix PNG" || fail "no confusion PNG"
expect "segment --evaluate prints the table" 0 "mean IoU" -- "$bin" segment --model "$work/m.h5" --data "$val" --out "$work/plain.h5" --png "$work/png" --evaluate
[ -s "$work/png/val_3.png" ] && [ ! -e "$work/png/val_3_overlay.png" ] && pass "label PNGs, no overlays unasked" || fail "PNGs missing, or overlays unasked"
expect "segment --overlays" 0 "30 images" -- "$bin" segment --model "$work/m.h5" --data "$val" --out "$work/ov.h5" --png "$work/png2" --overlays
[ -s "$work/png2/val_3.png" ] && [ -s "$work/png2/val_3_overlay.png" ] && pass "label and overlay PNGs" || fail "overlay PNGs missing"
# A folder tree whose names meet in the flat layout (a/b and a_b are both a_b.png there):
# refused before any work; the tree layout keeps them apart.
mkdir -p "$work/meet/a"
/usr/bin/python3 -c 'from PIL import Image; import sys; [Image.new("RGB", (40, 30), (9 * i, 80, 120)).save(p) for i, p in enumerate(sys.argv[1:])]' \
  "$work/meet/a/b.png" "$work/meet/a_b.png"
"$bin" pack --images "$work/meet" --out "$work/meet.h5" >/dev/null 2>&1 || fail "pack meet"
expect "names that meet in the flat layout" 1 "meet.h5: images 'a/b' and 'a_b' \(entry 1\) would both be written to .*a_b.png" -- \
  "$bin" segment --model "$work/m.h5" --data "$work/meet.h5" --out "$work/meet-pred.h5" --png "$work/meet-png"
[ ! -e "$work/meet-png" ] && [ ! -e "$work/meet-pred.h5" ] && pass "refused before any work" || fail "names that meet: something was written"
expect "the tree layout keeps them apart" 0 "2 images" -- \
  "$bin" segment --model "$work/m.h5" --data "$work/meet.h5" --out "$work/meet-pred.h5" --png "$work/meet-png" --png-layout tree
mkdir -p "$work/ov"
/usr/bin/python3 -c 'from PIL import Image; import sys; [Image.new("RGB", (40, 30), (9 * i, 80, 120)).save(p) for i, p in enumerate(sys.argv[1:])]' \
  "$work/ov/a.png" "$work/ov/a_overlay.png"
"$bin" pack --images "$work/ov" --out "$work/ov-set.h5" >/dev/null 2>&1 || fail "pack ov"
expect "an image named like another's overlay" 1 "images 'a' and 'a_overlay' \(entry 1\) would both be written to .*a_overlay.png" -- \
  "$bin" segment --model "$work/m.h5" --data "$work/ov-set.h5" --out "$work/ov-pred.h5" --png "$work/ov-png" --overlays

# 4. Bad input: clear errors, nothing overwritten.
before=$(md5sum < "$work/plain.h5")
expect "existing output without --resume/--overwrite" 1 "plain.h5: exists; pass --resume" -- "$bin" segment --model "$work/m.h5" --data "$val" --out "$work/plain.h5"
[ "$(md5sum < "$work/plain.h5")" = "$before" ] && pass "existing output untouched" || fail "existing output changed"
expect "--overwrite replaces it" 0 "30 computed" -- "$bin" segment --model "$work/m.h5" --data "$val" --out "$work/plain.h5" --overwrite
expect "model with another class count" 1 "m21.h5: the model has 21 classes, .*val.h5 has 11" -- "$bin" segment --model "$work/m21.h5" --data "$val" --out "$work/x.h5"
[ ! -e "$work/x.h5" ] && pass "no output after the error" || fail "output written after the error"
expect "predictions missing images" 1 "holds 30 images, .*fewer/val.h5 holds 20" -- "$bin" evaluate --pred "$work/one.h5" --data "$work/fewer/val.h5"
"$bin" segment --model "$work/m.h5" --data "$work/fewer/val.h5" --out "$work/f.h5" >/dev/null 2>&1
expect "evaluated against another data set" 1 "holds 20 images, .*holds 30" -- "$bin" evaluate --pred "$work/f.h5" --data "$val"
"$bin" make-scenes --out "$work/renamed" --train 30 --val 1 --size 64 >/dev/null 2>&1   # train_0 ... train_29
"$bin" make-scenes --out "$work/resized" --train 1 --val 30 --size 72 >/dev/null 2>&1   # val_0 ... at 72x72
expect "names that do not match" 1 "entry 0 is 'val_0', .*renamed/train.h5 has 'train_0'" -- \
  "$bin" evaluate --pred "$work/one.h5" --data "$work/renamed/train.h5"
expect "sizes that do not match" 1 "'val_0' is 64x64, the image is 72x72" -- "$bin" evaluate --pred "$work/one.h5" --data "$work/resized/val.h5"
expect "not a predictions file" 1 "not a deeplab predictions file" -- "$bin" evaluate --pred "$val" --data "$val"
"$bin" segment --model "$work/m.h5" --data "$val" --out "$work/changed.h5" --piece-images 4 >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 1000); do [ -e "$work/changed.h5.parts/piece-000000.h5" ] && break; sleep 0.005; done
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
expect "resume with other settings" 1 "other settings" -- "$bin" segment --model "$work/m.h5" --data "$val" --out "$work/changed.h5" --piece-images 4 --crf --resume
if grep -qwE 'avx512_bf16|amx_bf16' /proc/cpuinfo; then
  expect "resume in bf16 what f32 began" 1 "other settings" -- \
    "$bin" segment --model "$work/m.h5" --data "$val" --out "$work/changed.h5" --piece-images 4 --precision bf16 --resume
fi
expect "pieces without --resume" 1 "interrupted run; pass --resume" -- "$bin" segment --model "$work/m.h5" --data "$val" --out "$work/changed.h5" --piece-images 4
# The inputs are known by what they hold (the model's parameters, the data set's names and
# checksums), not by their paths or times: the same data written again (a pipeline rerun makes
# its scenes again) resumes; other scenes copied to the same path are refused, whether the run
# had finished or not.
interrupted() {  # DATA OUT: a run on DATA killed after its first piece
  "$bin" segment --model "$work/m.h5" --data "$1" --out "$2" --piece-images 4 >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 1 1000); do [ -e "$2.parts/piece-000000.h5" ] && break; sleep 0.005; done
  kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
}
cp "$val" "$work/swapped.h5"
interrupted "$work/swapped.h5" "$work/swap.h5"
cp "$val" "$work/copy.h5" && mv "$work/copy.h5" "$work/swapped.h5"   # the same scenes, a new file
expect "resume after the same data was written again" 0 "30 images" -- \
  "$bin" segment --model "$work/m.h5" --data "$work/swapped.h5" --out "$work/swap.h5" --piece-images 4 --resume
cp "$work/resized/val.h5" "$work/swapped.h5"   # the same names, other scenes
expect "a complete output resumed for other scenes at the same path" 1 "swap.h5: is complete but was made from other inputs" -- \
  "$bin" segment --model "$work/m.h5" --data "$work/swapped.h5" --out "$work/swap.h5" --piece-images 4 --resume
cp "$val" "$work/swapped2.h5"
interrupted "$work/swapped2.h5" "$work/swap2.h5"
cp "$work/resized/val.h5" "$work/swapped2.h5"
expect "an interrupted run resumed for other scenes at the same path" 1 "other settings|made from other inputs" -- \
  "$bin" segment --model "$work/m.h5" --data "$work/swapped2.h5" --out "$work/swap2.h5" --piece-images 4 --resume
expect "a complete output resumed for another data set" 1 "one.h5: is complete but was made from other inputs" -- \
  "$bin" segment --model "$work/m.h5" --data "$work/renamed/train.h5" --out "$work/one.h5" --crf --save-probs --piece-images 4 --resume
# A file from before outputs recorded their inputs: the images' names are still checked.
cp "$work/one.h5" "$work/older.h5"
/usr/bin/python3 -c 'import sys, h5py; del h5py.File(sys.argv[1], "r+").attrs["inputs"]' "$work/older.h5"
expect "an older complete output resumed for another data set" 1 "older.h5: is complete but not for .*entry 0 is not image 'train_0'" -- \
  "$bin" segment --model "$work/m.h5" --data "$work/renamed/train.h5" --out "$work/older.h5" --crf --save-probs --piece-images 4 --resume
# A damaged piece (a label no class has) is computed again, not copied into the output.
"$bin" segment --model "$work/m.h5" --data "$val" --out "$work/damaged.h5" --crf --save-probs --piece-images 4 >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 1000); do [ -e "$work/damaged.h5.parts/piece-000001.h5" ] && break; sleep 0.005; done
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
if [ -e "$work/damaged.h5.parts/piece-000000.h5" ]; then
  /usr/bin/python3 -c 'import sys, h5py; f = h5py.File(sys.argv[1], "r+"); f["images/000002/labels"][5, 7] = 200' \
    "$work/damaged.h5.parts/piece-000000.h5"
  expect "a damaged piece is computed again" 0 "piece-000000.h5: entry 2 holds label 200 of 11 classes: computed again" -- \
    "$bin" segment --model "$work/m.h5" --data "$val" --out "$work/damaged.h5" --crf --save-probs --piece-images 4 --resume
  cmp -s "$work/one.h5" "$work/damaged.h5" && pass "resumed past a damaged piece: byte-identical to the straight run" \
    || fail "resumed past a damaged piece: differs from the straight run"
else
  fail "the run to damage finished no piece before it was killed"
fi
# Two runs writing one output at once: the second is refused (the first holds OUT.lock).
flock "$work/twice.h5.lock" sleep 30 &
holder=$!
sleep 0.3
expect "a second run writing the same output" 1 "twice.h5: another run is writing it now" -- \
  "$bin" segment --model "$work/m.h5" --data "$val" --out "$work/twice.h5"
kill $holder 2>/dev/null; wait $holder 2>/dev/null
# A run that failed before its first piece left only its settings: a plain rerun goes ahead.
mkdir -p "$work/early.h5.parts" && echo "left by a run that failed early" >"$work/early.h5.parts/settings"
expect "a plain rerun after a run that failed before its first piece" 0 "images/s" -- \
  "$bin" segment --model "$work/m.h5" --data "$work/fewer/val.h5" --out "$work/early.h5"
finish
