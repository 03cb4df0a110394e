#!/usr/bin/env bash
# bf16 against f32 in the same run (--precision, nn/precision.h). Speed: LargeFOV forward at
# 321 and 513, the paper's width and the demo's, f32 and bf16 alternating (two rounds, the mean
# of each side's medians). Quality: the demo's val scenes segmented both ways, with and without
# the CRF: the share of pixels whose labels agree, and each side's mean IoU.
# usage: bf16.sh DEEPLAB [MODEL VAL.h5]   (default: the demo's; ./run.sh demo first)
set -euo pipefail
deeplab=$1
model=${2:-build/demo/finetune/final.h5}
val=${3:-build/demo/scenes/val.h5}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
median_ms() { /usr/bin/python3 -c 'import json, sys; print(json.loads(sys.stdin.read())["median_ms"])'; }

printf '%-36s %9s %9s %7s\n' "bench forward, batch 1, all cores" "f32 ms" "bf16 ms" "ratio"
for size in 321 513; do
  for width in 1 0.125; do
    f=() b=()
    for _ in 1 2; do
      f+=("$("$deeplab" bench forward --model.kind largefov --model.width "$width" --size "$size" --repeats 5 --json --precision f32 | median_ms)")
      b+=("$("$deeplab" bench forward --model.kind largefov --model.width "$width" --size "$size" --repeats 5 --json --precision bf16 | median_ms)")
    done
    /usr/bin/python3 -c "
import sys
f = (float(sys.argv[1]) + float(sys.argv[2])) / 2; b = (float(sys.argv[3]) + float(sys.argv[4])) / 2
print('%-36s %9.1f %9.1f %6.2fx' % ('LargeFOV width %s, %sx%s' % (sys.argv[5], sys.argv[6], sys.argv[6]), f, b, b / f))
" "${f[@]}" "${b[@]}" "$width" "$size"
  done
done

[ -f "$model" ] && [ -f "$val" ] || { echo "labels not compared: no $model or $val (./run.sh demo makes them)"; exit 0; }
echo
echo "$model on $val:"
printf '%-22s %14s %14s %12s\n' "" "mIoU f32" "mIoU bf16" "labels agree"
for crf in "" --crf; do
  for p in f32 bf16; do
    "$deeplab" segment --model "$model" --data "$val" --out "$work/$p.h5" --overwrite --precision "$p" $crf \
      --config configs/crf-scenes.ini >/dev/null 2>&1
    "$deeplab" evaluate --pred "$work/$p.h5" --data "$val" --json "$work/$p.json" >/dev/null 2>&1
  done
  /usr/bin/python3 - "$work" "${crf:-network alone}" <<'PY'
import json, sys
import h5py, numpy as np
work, title = sys.argv[1:]
title = "network + CRF" if title == "--crf" else title
def labels(path):
    found = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: found.__setitem__(name, obj[()]) if name.endswith("/labels") else None)
    return found
a, b = labels(work + "/f32.h5"), labels(work + "/bf16.h5")
assert a.keys() == b.keys() and a
same = sum(int((a[k] == b[k]).sum()) for k in a)
total = sum(a[k].size for k in a)
miou = [json.load(open("%s/%s.json" % (work, p)))["mean_iou"] for p in ("f32", "bf16")]
print("%-22s %13.2f%% %13.2f%% %11.3f%%" % (title, 100 * miou[0], 100 * miou[1], 100.0 * same / total))
PY
done
