#!/usr/bin/env bash
# A diagnostic for the GPU machine (on-device.sh EXTRA): is GPU training repeatable? Two straight
# runs, resumes from checkpoints 2 and 6, a resume with no steps left, on cuda and on cpu, each
# pair compared with make_test_files compare-models (bitwise where it says so).
set -u
w=$(mktemp -d); cd "$w"
deeplab make-scenes --out scenes --train 24 --val 8 --size 64 --fashion-mnist "$DEEPLAB_FASHION_MNIST" >/dev/null 2>&1
cmp() { echo "$1: $(make_test_files compare-models "$2" "$3" 1e-5 2>&1)"; }
for dev in cuda cpu; do
  c=(--data scenes/train.h5 --model.num_classes 11 --model.width 0.125 --data.crop_size 49 --solver.display 1
     --data.loader_threads 1 --solver.base_lr 0.001 --device $dev --solver.batch 2 --solver.snapshot 2 --solver.snapshot_keep 100)
  deeplab train "${c[@]}" --solver.max_iter 8 --out A-$dev >A-$dev.log 2>&1 || tail -3 A-$dev.log
  deeplab train "${c[@]}" --solver.max_iter 8 --out A2-$dev >/dev/null 2>&1
  mkdir B-$dev; cp A-$dev/checkpoint-0000006.h5 B-$dev/
  deeplab train "${c[@]}" --solver.max_iter 8 --out B-$dev --resume auto >B-$dev.log 2>&1 || tail -3 B-$dev.log
  mkdir C-$dev; cp A-$dev/checkpoint-0000006.h5 C-$dev/
  deeplab train "${c[@]}" --solver.max_iter 6 --out C-$dev --resume auto >/dev/null 2>&1
  mkdir D-$dev; cp A-$dev/checkpoint-0000002.h5 D-$dev/
  deeplab train "${c[@]}" --solver.max_iter 8 --out D-$dev --resume auto >/dev/null 2>&1
  cmp "$dev: two straight runs of 8" A-$dev/final.h5 A2-$dev/final.h5
  cmp "$dev: straight 8 vs resumed at 6" A-$dev/final.h5 B-$dev/final.h5
  cmp "$dev: straight 8 vs resumed at 2" A-$dev/final.h5 D-$dev/final.h5
  cmp "$dev: resumed at 6, no steps, vs straight run's checkpoint 6 (as a model)" C-$dev/final.h5 A-$dev/checkpoint-0000006.h5
  grep -E "loss" A-$dev/train_log.csv | head -1; sed -n 2,9p A-$dev/train_log.csv | cut -d, -f1-4 | tr '\n' ' '; echo
  sed -n 2,9p B-$dev/train_log.csv | cut -d, -f1-4 | tr '\n' ' '; echo
done
cmp "straight 8: cuda vs cpu" A-cuda/final.h5 A-cpu/final.h5
cmp "resumed at 6: cuda vs cpu" B-cuda/final.h5 B-cpu/final.h5
