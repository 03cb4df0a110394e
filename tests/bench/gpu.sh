#!/usr/bin/env bash
# The GPU figures of the GPU issue, side by side with the paper's, on this machine's first GPU:
# LargeFOV forward at 321 and 513 (batch 1 and 8), a training iteration at 321, and the CRF
# at 500x375, 21 labels, 10 iterations. The paper's implementation ran the network at about 8
# images/s and the CRF in about 500 ms per image (Chen et al., ICLR 2015, on a Titan); the goals
# here are over 300 images/s at 321, batch 8, and under 10 ms for the CRF.
# usage: gpu.sh DEEPLAB [JSON]   (JSON: the figures written there as well)
# Where nvidia-smi lists no GPU it says so and exits 77 (under DEEPLAB_REQUIRE_GPU=1: 1).
set -euo pipefail
deeplab=$1
json=${2:-}
source "$(dirname "$0")/../e2e/lib.sh"
gpu_or_skip "$deeplab"
"$deeplab" info --devices
figures=()
record() { figures+=("\"$1\": $2"); }  # KEY VALUE
math_name() { [ -n "$1" ] && echo tf32 || echo fp32; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a / b }'; }
field() { sed -E "s/.*\"$1\": ([0-9.]+).*/\1/"; }
printf '%-34s %12s %16s\n' "LargeFOV forward (images/s)" "this" "x the paper's 8"
for size in 321 513; do
  for batch in 1 8; do
    for math in "" --tf32; do
      ms=$("$deeplab" bench forward --model.kind largefov --size $size --batch $batch --device cuda $math --repeats 20 --json | field median_ms)
      ips=$(awk -v b=$batch -v m="$ms" 'BEGIN { printf "%.1f", b / (m / 1000) }')
      printf '%-34s %12s %16s\n' "${size}x${size} batch $batch ${math:-fp32}" "$ips" "$(ratio "$ips" 8)"
      record "forward_${size}_batch${batch}_$(math_name "$math")_images_per_s" "$ips"
    done
  done
done
for math in "" --tf32; do
  ips=$("$deeplab" bench train --model.kind largefov --size 321 --batch 10 --device cuda $math --repeats 10 --json | field images_per_s)
  printf '%-34s %12s\n' "LargeFOV training 321, batch 10 ${math:-fp32} (images/s)" "$ips"
  record "train_321_batch10_$(math_name "$math")_images_per_s" "$ips"
done
ms=$("$deeplab" bench crf --size 500x375 --labels 21 --crf.iterations 10 --device cuda --repeats 20 --json | field median_ms)
printf '%-34s %12s %16s\n' "CRF 500x375x21x10 (ms)" "$ms" "$(ratio 500 "$ms")x faster than 500"
record crf_500x375x21x10_ms "$ms"
if [ -n "$json" ]; then
  (IFS=,; echo "{${figures[*]}}") >"$json"
fi
