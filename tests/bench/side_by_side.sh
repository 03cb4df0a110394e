#!/usr/bin/env bash
# deeplab and PyTorch (Debian's python3-torch, CPU, same threads) on DeepLab-LargeFOV in the same
# run, reported as ratios (deeplab / PyTorch: below 1 is faster). Usage: side_by_side.sh DEEPLAB [THREADS]
set -euo pipefail
deeplab=$1
threads=${2:-$(nproc)}
here=$(dirname "$0")
peer=(/usr/bin/python3 "$here/pytorch_largefov.py" --threads "$threads")
have_torch=1
/usr/bin/python3 -c 'import torch' 2>/dev/null || have_torch=0
[ "$have_torch" = 1 ] || echo "python3-torch is not installed: deeplab figures only (apt-get install python3-torch)" >&2

field() { sed -E "s/.*\"$2\": ([0-9.]+).*/\1/" <<<"$1"; }
printf '%-24s %12s %12s %8s %12s %12s\n' case "deeplab ms" "pytorch ms" ratio "deeplab MB" "pytorch MB"
row() {
  local name=$1 ours=$2 theirs=${3:-}
  local om pm=- ratio=- orss prss=-
  om=$(field "$ours" median_ms)
  orss=$(field "$ours" peak_rss_mb)
  if [ -n "$theirs" ]; then
    pm=$(field "$theirs" median_ms)
    prss=$(field "$theirs" peak_rss_mb)
    ratio=$(awk -v a="$om" -v b="$pm" 'BEGIN { printf "%.2f", a / b }')
  fi
  printf '%-24s %12.1f %12s %8s %12.0f %12s\n' "$name" "$om" "$pm" "$ratio" "$orss" "$prss"
}
for size in 321 513; do
  ours=$("$deeplab" bench forward --model.kind largefov --size $size --threads "$threads" --repeats 7 --json)
  theirs=""
  [ "$have_torch" = 1 ] && theirs=$("${peer[@]}" --size $size --repeats 7)
  row "forward $size" "$ours" "$theirs"
done
ours=$("$deeplab" bench forward --model.kind largefov --size 321 --threads "$threads" --repeats 5 --backward --json)
theirs=""
[ "$have_torch" = 1 ] && theirs=$("${peer[@]}" --size 321 --repeats 5 --backward)
row "train step 321 batch 1" "$ours" "$theirs"
# A whole training iteration (forward, loss, backward, gradient all-reduce, SGD update).
ours=$("$deeplab" bench train --model.kind largefov --size 321 --threads "$threads" --repeats 5 --json)
theirs=""
[ "$have_torch" = 1 ] && theirs=$("${peer[@]}" --size 321 --repeats 5 --backward --sgd)
row "train iteration 321 b1" "$ours" "$theirs"
for conv in direct winograd; do
  ours=$("$deeplab" bench forward --model.kind largefov --size 321 --threads "$threads" --repeats 5 --model.conv $conv --json)
  row "forward 321 --conv $conv" "$ours" ""
done

# Data-parallel training on this machine: 1 rank with all threads vs N ranks sharing the cores,
# batch 1 per rank; images/s over all ranks and the share of an iteration spent waiting on the
# gradient all-reduce after backward.
field_num() { sed -E "s/.*\"$2\": ([0-9.]+).*/\1/" <<<"$1"; }
echo
printf '%-34s %12s %12s %16s\n' "training, LargeFOV 321, batch 1/rank" "ms/iter" "images/s" "all-reduce wait"
for ranks in 1 2; do
  if [ "$ranks" = 1 ]; then
    out=$("$deeplab" bench train --model.kind largefov --size 321 --repeats 5 --threads "$threads" --json)
  else
    out=$(OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun --oversubscribe --bind-to none -np "$ranks" \
          "$deeplab" bench train --model.kind largefov --size 321 --repeats 5 --json)
  fi
  printf '%-34s %12.0f %12.2f %15.1f%%\n' "$ranks rank(s)" "$(field_num "$out" median_ms)" \
    "$(field_num "$out" images_per_s)" "$(awk -v w="$(field_num "$out" allreduce_wait_share)" 'BEGIN { print 100 * w }')"
done
