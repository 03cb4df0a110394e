#!/usr/bin/env bash
# The CRF on one image, cold against warm: the wall time of `deeplab crf` on a 500x375 photograph
# with a 21-label class map (start-up, reading, the CRF, writing), the CRF's first run in a fresh
# process, and its warm median (bench crf on the same image), each the median over 15 processes.
# The photograph is densecrf's im1 scaled to 500x375 with its coarse map (crf_photo.py).
# usage: crf_cold.sh DEEPLAB [EXAMPLES]   (EXAMPLES: ../shared/data/crf-examples)
set -euo pipefail
deeplab=$1
examples=${2:-../shared/data/crf-examples}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 "$(dirname "$0")/crf_photo.py" "$examples" "$work"
input=(--image "$work/im.png" --probs "$work/p.npy" --layout hwc)
for _ in $(seq 15); do
  start=$(date +%s%N)
  "$deeplab" crf "${input[@]}" --out "$work/l.png" >/dev/null
  echo "wall $((($(date +%s%N) - start) / 1000))"
  "$deeplab" bench crf "${input[@]}" --repeats 5 --json
done | /usr/bin/python3 -c '
import json, statistics, sys
wall, first, warm = [], [], []
for line in sys.stdin:
    if line.startswith("wall "):
        wall.append(int(line.split()[1]) / 1000)
    else:
        r = json.loads(line)
        first.append(r["first_ms"]); warm.append(r["median_ms"])
        units = r["width"] * r["height"] / 1e6 * r["labels"] * r["iterations"]
w, f, m = (statistics.median(v) for v in (wall, first, warm))
print("CRF, 500x375 photograph, 21 labels, 10 iterations, all cores; medians over 15 processes:")
print("  deeplab crf, whole process (wall)  %6.1f ms  %.2fx warm" % (w, w / m))
print("  the CRF, first run in a process    %6.1f ms  %.2fx warm" % (f, f / m))
print("  the CRF, warm (bench crf median)   %6.1f ms  %.2f ms per megapixel x label x iteration" % (m, m / units))
'
