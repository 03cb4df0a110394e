#!/usr/bin/env bash
# deeplab crf on the densecrf demo photographs (../shared/data/crf-examples) against what the
# reference programs wrote on them (../shared/data/crf-reference, README.txt there: densecrf 2.2
# and the 2011 code): the unary made from each rough annotation as the demo makes it, and the
# coarse stride-8-like map of im1, each with the reference's parameters and normalisation; the
# labels must agree on at least 99% of pixels. Also the command's answers to bad input.
# The data is part of the test: without it the test fails (DEEPLAB_CRF_EXAMPLES and
# DEEPLAB_CRF_REFERENCE say where it is when not beside the repository).
set -u
deeplab=$1
make_files=$2
data=${DEEPLAB_CRF_EXAMPLES:-$3}
reference=${DEEPLAB_CRF_REFERENCE:-$data/../crf-reference}
. "$(dirname "$0")/lib.sh"
scratch dir
for f in "$data/im1.png" "$data/im1_coarse_prob_240x320x21.npy" "$reference/v22_it5_out1.png"; do
  [ -f "$f" ] || { fail "missing test data: $f"; finish; exit; }
done

# check NAME LABELS.png ANNO.png MIN_AGREEMENT
check() {
  local line agreement used colours
  line=$("$make_files" agreement "$2" "$3") || { fail "$1: agreement"; return; }
  agreement=$(sed -E 's/agreement ([0-9.]+).*/\1/' <<<"$line")
  used=$(sed -E 's/.*labels used up to ([0-9]+).*/\1/' <<<"$line")
  colours=$(sed -E 's/.*annotation colours ([0-9]+).*/\1/' <<<"$line")
  if awk -v a="$agreement" -v m="$4" 'BEGIN { exit !(a >= m) }' && [ "$used" -lt "$colours" ]; then
    pass "$1: $line"
  else
    fail "$1: $line (want agreement >= $4 and labels below $colours)"
  fi
}

# against REF ANNO|- NAME -- deeplab crf ARGS (without --out): labels agree with the reference
# program's on at least 99.9% of pixels (ANNO: the reference is RGB in the annotation's colours).
against() {
  local ref=$1 anno=$2 name=$3 line
  shift 4
  if ! "$deeplab" crf "$@" --out "$dir/r.png" >"$dir/log" 2>&1; then fail "$name: deeplab crf"; cat "$dir/log"; return; fi
  if [ "$anno" = - ]; then line=$("$make_files" reference-agreement "$dir/r.png" "$reference/$ref" 0.999)
  else line=$("$make_files" reference-agreement "$dir/r.png" "$reference/$ref" 0.999 "$anno"); fi
  [ $? -eq 0 ] && pass "$name: $line" || fail "$name: $line (want >= 99.9%)"
}
# The demo's parameters: densecrf 2.2 (symmetric normalisation) and the 2011 code (per pixel).
v22=(--crf.pos_w 3 --crf.pos_xy_std 3 --crf.bi_w 10 --crf.bi_xy_std 80 --crf.bi_rgb_std 13 --crf.normalization symmetric)
v1=(--crf.pos_w 3 --crf.pos_xy_std 3 --crf.bi_w 10 --crf.bi_xy_std 60 --crf.bi_rgb_std 20 --crf.normalization per-pixel)
for i in 1 2 3; do
  "$make_files" anno-probs "$data/anno$i.png" "$dir/p$i.npy" || fail "anno-probs $i"
  in=(--image "$data/im$i.png" --probs "$dir/p$i.npy")
  against v22_it5_out$i.png "$data/anno$i.png" "im$i, densecrf 2.2, 5 iterations" -- "${in[@]}" "${v22[@]}" --crf.iterations 5
  against v22_it10_out$i.png "$data/anno$i.png" "im$i, densecrf 2.2, 10 iterations" -- "${in[@]}" "${v22[@]}" --crf.iterations 10
  against v1_it10_out$i.png "$data/anno$i.png" "im$i, the 2011 code, 10 iterations" -- "${in[@]}" "${v1[@]}" --crf.iterations 10
done
b80=(--image "$data/im1.png" --probs "$data/im1_coarse_prob_240x320x21.npy" --layout hwc --crf.iterations 10
     --crf.pos_w 3 --crf.pos_xy_std 3 --crf.bi_w 10 --crf.bi_xy_std 80 --crf.bi_rgb_std 13)
against im1_coarse_b80_v22sym_labels.png - "im1 coarse map, densecrf 2.2 symmetric" -- "${b80[@]}" --crf.normalization symmetric
against im1_coarse_b80_v22after_labels.png - "im1 coarse map, densecrf 2.2 after" -- "${b80[@]}" --crf.normalization per-pixel
against im1_coarse_b80_v1_labels.png - "im1 coarse map, the 2011 code" -- "${b80[@]}" --crf.normalization per-pixel

"$deeplab" crf --image "$data/im1.png" --probs "$data/im1_coarse_prob_240x320x21.npy" --layout hwc \
  --out "$dir/coarse.png" --marginals "$dir/q.npy" >/dev/null || fail "deeplab crf on the coarse map"
check "im1 from the coarse map, the release's parameters" "$dir/coarse.png" "$data/anno1.png" 0.95
size=$(stat -c %s "$dir/q.npy" 2>/dev/null || echo 0)
# 21 x 240 x 320 float32 plus the 128-byte header
[ "$size" -eq $((21 * 240 * 320 * 4 + 128)) ] && pass "marginals written ($size bytes)" || fail "marginals: $size bytes"
"$deeplab" crf --image "$data/im1.png" --probs "$dir/p1.npy" --out "$dir/voc.png" --palette voc >/dev/null &&
  [ -s "$dir/voc.png" ] && pass "VOC palette output" || fail "VOC palette output"

# The class map as a float16 dataset inside an HDF5 file, written by h5py: the same labels.
if /usr/bin/python3 -c 'import h5py, numpy' 2>/dev/null; then
  /usr/bin/python3 - "$dir/p1.npy" "$dir/p1.h5" <<'PY'
import sys, h5py, numpy
with h5py.File(sys.argv[2], "w") as f:
    f.create_dataset("probs/im1", data=numpy.load(sys.argv[1]).astype(numpy.float16))
PY
  "$deeplab" crf --image "$data/im1.png" --probs "$dir/p1.npy" --out "$dir/l1.png" >/dev/null || fail "crf on p1.npy"
  "$deeplab" crf --image "$data/im1.png" --probs "$dir/p1.h5:/probs/im1" --out "$dir/h5.png" >/dev/null &&
    cmp -s "$dir/h5.png" "$dir/l1.png" && pass "float16 HDF5 input gives the same labels" ||
    fail "float16 HDF5 input"
else
  fail "HDF5 input check: python3-h5py is missing (./run.sh setup installs it)"
fi

# refused STATUS NAME PATTERN -- COMMAND: that exit status (1: bad input, 2: a bad command line),
# the pattern in the message, and no output file.
refused() {
  local status=$1 name=$2 pattern=$3
  shift 4
  rm -f "$dir/bad.png"
  expect "$name" "$status" "$pattern" -- "$@" && [ -e "$dir/bad.png" ] && fail "$name: left $dir/bad.png behind"
}
refused 1 "image and probabilities of different sizes" "240 x 320 .*im2.png is 213 x 320" -- \
  "$deeplab" crf --image "$data/im2.png" --probs "$dir/p1.npy" --out "$dir/bad.png"
refused 1 "H x W x L given as L x H x W" "layout hwc" -- \
  "$deeplab" crf --image "$data/im1.png" --probs "$data/im1_coarse_prob_240x320x21.npy" --out "$dir/bad.png"
"$make_files" poison "$dir/p1.npy" "$dir/nan.npy"
refused 1 "NaN in the probabilities" "nan.npy: .*not finite" -- \
  "$deeplab" crf --image "$data/im1.png" --probs "$dir/nan.npy" --out "$dir/bad.png"
refused 2 "zero std" "bi_rgb_std must be a positive number" -- \
  "$deeplab" crf --image "$data/im1.png" --probs "$dir/p1.npy" --out "$dir/bad.png" --crf.bi_rgb_std 0
refused 2 "negative std" "pos_xy_std must be a positive number" -- \
  "$deeplab" crf --image "$data/im1.png" --probs "$dir/p1.npy" --out "$dir/bad.png" --crf.pos_xy_std -2
refused 1 "not an .npy" "not a NumPy .npy file" -- \
  "$deeplab" crf --image "$data/im1.png" --probs "$data/im1.ppm" --out "$dir/bad.png"
refused 1 "missing image" "nothere.png: no such file" -- \
  "$deeplab" crf --image "$dir/nothere.png" --probs "$dir/p1.npy" --out "$dir/bad.png"
cp "$data/im1.png" "$dir/q\"x\\y.png"   # a name JSON must escape
if json=$("$deeplab" bench crf --image "$dir/q\"x\\y.png" --probs "$dir/p1.npy" --repeats 1 --warmup 0 --json) &&
   /usr/bin/python3 -c 'import json, sys; assert json.loads(sys.argv[1])["image"].endswith("q\"x\\y.png")' "$json"; then
  pass "bench crf --json escapes the image's name"
else
  fail "bench crf --json: $json"
fi
touch "$dir/a-file"
refused 1 "marginals where no file can go: checked before the work, so the labels are not written either" \
  "a-file/q.npy: cannot make its folder: .*a-file is not a folder" -- \
  "$deeplab" crf --image "$data/im1.png" --probs "$dir/p1.npy" --out "$dir/bad.png" --marginals "$dir/a-file/q.npy"
"$deeplab" crf --image "$data/im1.png" --probs "$dir/p1.npy" --out "$dir/new/folders/l.png" >/dev/null &&
  [ -s "$dir/new/folders/l.png" ] && pass "an output's missing folders are made" || fail "an output in new folders"
refused 2 "probs and scores both" "exactly one of --probs and --scores" -- \
  "$deeplab" crf --image "$data/im1.png" --probs "$dir/p1.npy" --scores "$dir/p1.npy" --out "$dir/bad.png"
printf '[crf]\nbi_w = 5\nbi_colour = 3\n' >"$dir/bad.ini"
refused 2 "unknown [crf] key" "bad.ini: .*bi_colour" -- \
  "$deeplab" crf --config "$dir/bad.ini" --image "$data/im1.png" --probs "$dir/p1.npy" --out "$dir/bad.png"
# A [crf] config holding the 2011 demo's parameters (not the defaults) reproduces its output.
printf '[crf]\npos_w = 3\npos_xy_std = 3\nbi_w = 10\nbi_xy_std = 60\nbi_rgb_std = 20\niterations = 10\n' >"$dir/v1.ini"
against v1_it10_out1.png "$data/anno1.png" "[crf] config file read" -- --config "$dir/v1.ini" --image "$data/im1.png" \
  --probs "$dir/p1.npy"

finish
