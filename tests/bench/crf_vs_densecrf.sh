#!/usr/bin/env bash
# Our CRF against Krähenbühl's densecrf 2.2 in the same run, on the same input: densecrf's im1
# scaled to 500x375 with its coarse 21-label map, DeepLab-LargeFOV's CRF parameters, 10
# iterations, the 2011 per-pixel normalisation. densecrf is not part of this project: give the
# folder of its release (include/ and src/ as released; Eigen 3 from libeigen3-dev). Rounds
# alternate the two programs; each figure is a median of 10 warm runs. Also prints how many
# pixels' labels the two agree on.
# usage: crf_vs_densecrf.sh DEEPLAB DENSECRF_DIR [EXAMPLES] [ROUNDS]
set -euo pipefail
deeplab=$1
densecrf=$2
examples=${3:-../shared/data/crf-examples}
rounds=${4:-3}
here=$(cd "$(dirname "$0")" && pwd)
[ -f "$densecrf/include/densecrf.h" ] || { echo "crf_vs_densecrf.sh: $densecrf/include/densecrf.h: no densecrf release there" >&2; exit 1; }
[ -d /usr/include/eigen3 ] || { echo "crf_vs_densecrf.sh: densecrf needs Eigen 3 (apt-get install libeigen3-dev)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
[ -n "${KEEP:-}" ] && trap - EXIT && echo "keeping $work"

# densecrf's library target as its CMake Release build makes it (-O3, no -march), and our driver.
g++ -O3 -DNDEBUG -I"$densecrf/include" -I/usr/include/eigen3 -o "$work/time_densecrf" \
  "$here/densecrf_peer/time_densecrf.cpp" \
  "$densecrf"/src/{util,permutohedral,unary,pairwise,objective,densecrf,labelcompatibility}.cpp

/usr/bin/python3 "$here/crf_photo.py" "$examples" "$work"

input=(--image "$work/im.png" --probs "$work/p.npy" --layout hwc)
"$deeplab" crf "${input[@]}" --out "$work/ours.png" >/dev/null
# Each program's output is taken on a line of its own, so that set -e stops at a failing run.
for _ in $(seq "$rounds"); do
  theirs=$("$work/time_densecrf" "$work/im.ppm" "$work/p.f32" 21 10 10 "$work/theirs.pgm")
  ours2=$("$deeplab" bench crf "${input[@]}" --repeats 10 --json)
  ours1=$("$deeplab" bench crf "${input[@]}" --repeats 10 --threads 1 --json)
  printf 'densecrf %s\nours2 %s\nours1 %s\n' "$theirs" "$ours2" "$ours1" >>"$work/times"
done
/usr/bin/python3 - "$work" <<'PY'
import json, statistics, sys
import numpy as np
from PIL import Image
work = sys.argv[1]
runs = {"densecrf": [], "ours2": [], "ours1": []}
for line in open(work + "/times"):
    name, record = line.split(" ", 1)
    r = json.loads(record)
    runs[name].append(r["setup_ms"] + r["inference_ms"] if name == "densecrf" else r["median_ms"])
med = {k: statistics.median(v) for k, v in runs.items()}
print("CRF, 500x375 photograph, 21 labels, 10 iterations, LargeFOV parameters; median of %d rounds:" % len(runs["densecrf"]))
print("  densecrf 2.2 (1 thread)   %7.1f ms  (rounds: %s)" % (med["densecrf"], ", ".join("%.0f" % t for t in runs["densecrf"])))
for key, label in (("ours1", "deeplab, 1 thread"), ("ours2", "deeplab, all cores")):
    print("  %-24s  %7.1f ms  %.1fx faster  (rounds: %s)" % (label, med[key], med["densecrf"] / med[key],
          ", ".join("%.0f" % t for t in runs[key])))
ours = np.array(Image.open(work + "/ours.png"))
theirs = np.array(Image.open(work + "/theirs.pgm"))
print("  labels: %.3f%% of pixels the same as densecrf's" % (100.0 * (ours == theirs).mean()))
PY
