#!/usr/bin/env bash
# A diagnostic for the GPU machine (on-device.sh runs it as its extra stage when asked): what
# cuDNN chose and how long it took, strict fp32 against TF32, for LargeFOV forward at 321 x
# batch 8 and a training iteration, from cuDNN's own API log (level 3: every call with its
# arguments), summarised as counts of (call, algorithm, math type).
# usage: cudnn-choices.sh   (deeplab on PATH)
set -u
for math in "" --tf32; do
  for what in forward train; do
    log=$(mktemp)
    batch=8; [ $what = train ] && batch=10
    CUDNN_LOGLEVEL_DBG=3 CUDNN_LOGDEST_DBG="$log" deeplab bench $what --model.kind largefov --size 321 --batch $batch \
      --device cuda $math --repeats 3 --json
    echo "== $what ${math:-fp32}: $(wc -l <"$log") log lines; calls, then algo/mathType values, by count"
    grep -oE 'function cudnn[A-Za-z_0-9]+' "$log" | sort | uniq -c | sort -rn | head -12
    grep -oE '(algo|mathType): type=[A-Za-z_]+; val=[A-Z_0-9]+' "$log" | sed 's/type=[A-Za-z_]*; //' |
      sort | uniq -c | sort -rn | head -30
    rm -f "$log"
  done
done
