#!/usr/bin/env bash
# The GPU backend end to end, where nvidia-smi lists a GPU (skips, 77, otherwise; fails under
# DEEPLAB_REQUIRE_GPU=1):
#   1. training: 1 GPU rank x batch 4, 2 ranks (sharing the GPU) x batch 2 and 1 rank x 2 x
#      iter_size 2 give the same model to 1e-5, and the GPU model equals the CPU one to 1e-4;
#   2. kill -9 and --resume auto on the GPU: the model of a straight run;
#   3. segment --device cuda with and without the CRF agrees with the CPU on >= 99.5% of pixels,
#      and crf-sweep --device cuda scores the points as the CPU does (to 0.5 mIoU points).
# usage: gpu.sh DEEPLAB MAKE_TEST_FILES
set -u
bin=$1
tool=$2
source "$(dirname "$0")/lib.sh"
gpu_or_skip "$bin"
scratch work
export OMP_NUM_THREADS=2

"$bin" make-scenes --out "$work/scenes" --train 24 --val 8 --size 64 \
  --fashion-mnist "${DEEPLAB_FASHION_MNIST:-/usr/share/datasets/fashion-mnist}" >"$work/scenes.log" 2>&1 ||
  { fail "make-scenes"; tail -3 "$work/scenes.log"; finish; exit; }
common=(--data "$work/scenes/train.h5" --model.num_classes 11 --model.width 0.125 --data.crop_size 49
        --solver.display 1 --data.loader_threads 1 --solver.base_lr 0.001)
same() {  # NAME A B RTOL
  local out
  if out=$("$tool" compare-models "$2" "$3" "$4" 2>&1); then pass "$1 ($out)"; else fail "$1: $out"; fi
}

# 1. The global batch of 4 split three ways on the GPU, and the CPU's model.
expect "GPU, 1 rank, batch 4" 0 "on cuda:0" -- "$bin" train "${common[@]}" --device cuda --solver.batch 4 --solver.max_iter 5 --out "$work/b4"
expect "GPU, 2 ranks sharing the GPU, batch 2: host sums" 0 "2 ranks share 1 GPU" -- $mpirun 2 "$bin" train "${common[@]}" --device cuda --solver.batch 2 --solver.max_iter 5 --out "$work/r2"
expect "GPU, batch 2 x iter_size 2" 0 "global batch 4" -- "$bin" train "${common[@]}" --device cuda --solver.batch 2 --solver.iter_size 2 --solver.max_iter 5 --out "$work/i2"
expect "CPU, batch 4" 0 "on cpu" -- "$bin" train "${common[@]}" --device cpu --solver.batch 4 --solver.max_iter 5 --out "$work/cpu"
same "GPU: 2 ranks x 2 equals 1 rank x 4" "$work/b4/final.h5" "$work/r2/final.h5" 1e-5
same "GPU: iter_size 2 equals batch 4" "$work/b4/final.h5" "$work/i2/final.h5" 1e-5
same "GPU model equals CPU model" "$work/b4/final.h5" "$work/cpu/final.h5" 1e-4
# Frozen layers (solver.freeze, the MSc step's) on the GPU, which has not run them yet: the CPU's model.
expect "GPU, the trunk frozen" 0 "on cuda:0" -- "$bin" train "${common[@]}" --device cuda --solver.batch 4 --solver.max_iter 5 --solver.freeze conv --out "$work/frozen-gpu"
expect "CPU, the trunk frozen" 0 "on cpu" -- "$bin" train "${common[@]}" --device cpu --solver.batch 4 --solver.max_iter 5 --solver.freeze conv --out "$work/frozen-cpu"
same "frozen trunk: GPU model equals CPU model" "$work/frozen-gpu/final.h5" "$work/frozen-cpu/final.h5" 1e-4

# 2. kill -9 after checkpoint 6, resume: the straight run's model (same GPU, same algorithms).
long=("${common[@]}" --device cuda --solver.batch 2 --solver.max_iter 40 --solver.snapshot 2)
"$bin" train "${long[@]}" --out "$work/straight" >/dev/null 2>&1 || fail "straight GPU run"
"$bin" train "${long[@]}" --out "$work/killed" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 3000); do [ -e "$work/killed/checkpoint-0000006.h5" ] && break; sleep 0.01; done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
expect "GPU resume after kill -9" 0 "resuming from" -- "$bin" train "${long[@]}" --out "$work/killed" --resume auto
same "GPU kill -9 and resume" "$work/straight/final.h5" "$work/killed/final.h5" 1e-5

# 3. Segmentation and the sweep on the GPU against the CPU.
model="$work/straight/final.h5"
for crf in "" --crf; do
  "$bin" segment --model "$model" --data "$work/scenes/val.h5" --out "$work/cpu$crf.h5" $crf --save-probs >/dev/null 2>&1
  expect "segment $crf on the GPU" 0 "images/s" -- "$bin" segment --model "$model" --data "$work/scenes/val.h5" \
    --out "$work/gpu$crf.h5" $crf --save-probs --device cuda
  if out=$("$tool" compare-predictions "$work/cpu$crf.h5" "$work/gpu$crf.h5" 0.995 2>&1); then pass "GPU segment $crf = CPU ($out)"
  else fail "GPU segment $crf differs from the CPU: $out"; fi
done
# --device auto with --precision auto on a GPU host whose CPU computes bf16: the GPU, in f32
# (the precision was once chosen for the CPU, and the GPU refused bf16).
expect "segment --device auto --precision auto runs on the GPU" 0 "images/s on 1 rank" -- \
  "$bin" segment --model "$model" --data "$work/scenes/val.h5" --out "$work/auto.h5" --device auto --precision auto
printf '[crf]\nbi_w = 3,5\nbi_xy_std = 50,121\nbi_rgb_std = 5\niterations = 5\n' > "$work/grid.ini"
for device in cpu cuda; do
  "$bin" crf-sweep --probs "$work/cpu.h5" --data "$work/scenes/val.h5" --grid "$work/grid.ini" --images 8 \
    --out "$work/sweep-$device" --device $device >/dev/null 2>&1 || fail "crf-sweep --device $device"
done
python=/usr/bin/python3
[ -x $python ] || python=python3  # the GPU machine's Python is elsewhere
if $python - "$work/sweep-cpu/results.csv" "$work/sweep-cuda/results.csv" <<'PY'
import csv, sys
rows = [{tuple(r[k] for k in r if k not in ("mean_iou", "pixel_accuracy", "seconds")): float(r["mean_iou"])
         for r in csv.DictReader(open(p))} for p in sys.argv[1:]]
assert rows[0].keys() == rows[1].keys(), "different points"
worst = max(abs(rows[0][k] - rows[1][k]) for k in rows[0])
print(f"worst mIoU difference {worst:.4f}")
assert worst <= 0.005
PY
then pass "crf-sweep on the GPU scores the points as the CPU"; else fail "crf-sweep GPU vs CPU"; fi
finish
