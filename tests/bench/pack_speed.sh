#!/usr/bin/env bash
# Two measurements for real collections:
#   - start-up: `deeplab --help` wall time (median of 21 runs), peak RSS, and the shared
#     libraries it loads (ldd), for this build and, when given, another one side by side;
#   - pack: images/s for 400 VOC-sized JPEG photographs (500x375, made from the densecrf
#     photographs by random crops, flips and qualities), raw and source encodings, 1 and 2 ranks,
#     and the dataset's size against the JPEGs'.
# usage: pack_speed.sh DEEPLAB CRF_EXAMPLES_DIR [OTHER_DEEPLAB]
set -euo pipefail
deeplab=$1
examples=$2
other=${3:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

startup() {  # BINARY LABEL
  local bin=$1 label=$2 libs ms rss
  libs=$(ldd "$bin" | wc -l)
  ms=$(/usr/bin/python3 - "$bin" <<'PY'
import subprocess, sys, time
times = []
for _ in range(21):
    t = time.perf_counter()
    subprocess.run([sys.argv[1], "--help"], stdout=subprocess.DEVNULL, check=True)
    times.append(1000 * (time.perf_counter() - t))
print("%.1f" % sorted(times)[10])
PY
)
  rss=$(for _ in 1 2 3 4 5; do /usr/bin/time -f %M "$bin" --help 2>&1 >/dev/null; done | sort -n | sed -n 3p)
  printf '%-34s %10s %12s %16s\n' "$label" "$libs" "$ms" "$((rss / 1024)) MB"
}
printf '%-34s %10s %12s %16s\n' "deeplab --help" libraries "wall ms" "peak RSS"
startup "$deeplab" "this build"
[ -n "$other" ] && startup "$other" "$other"

/usr/bin/python3 - "$examples" "$work/photos" <<'PY'
import os, random, sys
from PIL import Image, ImageOps
examples, out = sys.argv[1:]
os.makedirs(out)
ims = [Image.open(os.path.join(examples, f"im{k}.png")).convert("RGB").resize((800, 600), Image.BILINEAR) for k in (1, 2, 3)]
rng = random.Random(1)
for i in range(400):
    im = ims[i % 3]
    x, y = rng.randrange(0, 300), rng.randrange(0, 225)
    crop = im.crop((x, y, x + 500, y + 375))
    if rng.random() < 0.5:
        crop = ImageOps.mirror(crop)
    crop.save(os.path.join(out, "2012_%06d.jpg" % i), quality=rng.choice([75, 85, 95]))
PY
jpeg_mb=$(du -b -c "$work/photos"/*.jpg | tail -1 | cut -f1 | awk '{printf "%.1f", $1 / 1e6}')
echo
# images/s: the whole job, MPI's start-up (about 0.6 s here) included; and in the loop, from the
# progress line (decoding, checking, deflating, writing).
printf '%-34s %6s %10s %10s %12s\n' "pack, 400 JPEGs of 500x375 ($jpeg_mb MB)" ranks "images/s" "in loop" "dataset MB"
for encoding in raw source; do
  for ranks in 1 2; do
    launch=()
    [ "$ranks" = 2 ] && launch=(mpirun --oversubscribe --bind-to none -np 2)
    best=0 loop=0
    for _ in 1 2 3; do
      rm -f "$work/d.h5"
      start=$(date +%s.%N)
      log=$("${launch[@]}" "$deeplab" pack --images "$work/photos" --out "$work/d.h5" --encoding "$encoding" 2>&1)
      rate=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN {printf "%.0f", 400 / (e - s)}')
      inner=$(grep -o '100.0%) [0-9.]*/s' <<<"$log" | tail -1 | sed -E 's/.* ([0-9.]+)\/s/\1/' | cut -d. -f1)
      [ "$rate" -gt "$best" ] && best=$rate
      [ "${inner:-0}" -gt "$loop" ] && loop=$inner
    done
    mb=$(awk -v b="$(stat -c %s "$work/d.h5")" 'BEGIN {printf "%.1f", b / 1e6}')
    printf '%-34s %6s %10s %10s %12s\n' "--encoding $encoding" "$ranks" "$best" "$loop" "$mb"
  done
done
