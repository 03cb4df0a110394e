#!/usr/bin/env bash
# The small-data recipe on garments pasted onto real photographs: 300 train and 100 val images,
# 192 px, 11 classes, on crops of the densecrf example photographs. configs/finetune-small.ini
# from a pretrained classifier, and the same from scratch, side by side in one run; each
# segmented with and without the CRF. Prints the table (mean IoU / pixel accuracy on val).
# usage: photo_garments.sh DEEPLAB PRETRAINED_VGG16.h5 [PHOTOS_DIR]   (about 10 minutes on 2 cores)
set -euo pipefail
bin=$1
vgg=$2
photos=$(realpath "${3:-$(dirname "$0")/../../../shared/data/crf-examples}")
work=${WORK:-$(mktemp -d)}
mpirun=(mpirun --oversubscribe --bind-to none -np 2)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
printf '%s\n' "$photos/im1.png" "$photos/im2.png" "$photos/im3.png" >"$work/backgrounds.txt"
"$bin" make-scenes --out "$work/data" --train 300 --val 100 --size 192 --backgrounds "$work/backgrounds.txt" --voc-layout
for run in pretrained scratch; do
  init=()
  [ "$run" = pretrained ] && init=(--init "$vgg")
  "${mpirun[@]}" "$bin" train --config configs/finetune-small.ini "${init[@]}" --data "$work/data/train.h5" \
    --out "$work/$run" --resume auto
  for mode in net crf; do
    crf=()
    [ "$mode" = crf ] && crf=(--crf --config configs/crf-scenes.ini)
    "${mpirun[@]}" "$bin" segment --model "$work/$run/final.h5" --data "$work/data/val.h5" --out "$work/$run-$mode.h5" \
      --overwrite "${crf[@]}" --png "$work/png-$run-$mode" --overlays
    "${mpirun[@]}" "$bin" evaluate --pred "$work/$run-$mode.h5" --data "$work/data/val.h5" --json "$work/$run-$mode.json" \
      >"$work/$run-$mode.txt"
  done
done
/usr/bin/python3 - "$work" <<'PY'
import json, sys
w = sys.argv[1]
print("\nGarments on photographs, val (100 images, 192 px), mean IoU / pixel accuracy:")
print("%-12s %16s %16s" % ("", "network alone", "network + CRF"))
for run in ("scratch", "pretrained"):
    cells = []
    for mode in ("net", "crf"):
        e = json.load(open("%s/%s-%s.json" % (w, run, mode)))
        cells.append("%.1f%% / %.1f%%" % (100 * e["mean_iou"], 100 * e["pixel_accuracy"]))
    print("%-12s %16s %16s" % (run, cells[0], cells[1]))
PY
echo "outputs: $work"
