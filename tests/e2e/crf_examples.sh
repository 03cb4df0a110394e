#!/usr/bin/env bash
# deeplab crf on the densecrf demo photographs (../shared/data/crf-examples): the unary made from
# each rough annotation as the original demo makes it, and the coarse stride-8-like map of im1.
# Checks that the result is sane: only the annotation's labels appear and most annotated pixels
# keep their label. Also the command's answers to bad input. Exits 77 (skipped) without the data.
set -u
deeplab=$1
make_files=$2
data=$3
if [ ! -f "$data/im1.png" ]; then echo "skipped: no crf-examples data at $data"; exit 77; fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
. "$(dirname "$0")/lib.sh"

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

for i in 1 2 3; do
  "$make_files" anno-probs "$data/anno$i.png" "$dir/p$i.npy" || fail "anno-probs $i"
  if "$deeplab" crf --image "$data/im$i.png" --probs "$dir/p$i.npy" --out "$dir/l$i.png" >"$dir/log" 2>&1; then
    check "im$i from its annotation" "$dir/l$i.png" "$data/anno$i.png" 0.95
  else
    fail "deeplab crf on im$i"; cat "$dir/log"
  fi
done

"$deeplab" crf --image "$data/im1.png" --probs "$data/im1_coarse_prob_240x320x21.npy" --layout hwc \
  --out "$dir/coarse.png" --marginals "$dir/q.npy" >/dev/null || fail "deeplab crf on the coarse map"
check "im1 from the coarse map" "$dir/coarse.png" "$data/anno1.png" 0.95
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
  "$deeplab" crf --image "$data/im1.png" --probs "$dir/p1.h5:/probs/im1" --out "$dir/h5.png" >/dev/null &&
    cmp -s "$dir/h5.png" "$dir/l1.png" && pass "float16 HDF5 input gives the same labels" ||
    fail "float16 HDF5 input"
else
  echo "skip HDF5 input check: python3-h5py not installed"
fi

# expect_error NAME PATTERN -- COMMAND: exit status 1, the pattern in the message, no output file.
expect_error() {
  local name=$1 pattern=$2
  shift 3
  rm -f "$dir/bad.png"
  expect "$name" 1 "$pattern" -- "$@" && [ -e "$dir/bad.png" ] && fail "$name: left $dir/bad.png behind"
}
expect_error "image and probabilities of different sizes" "240 x 320 .*im2.png is 213 x 320" -- \
  "$deeplab" crf --image "$data/im2.png" --probs "$dir/p1.npy" --out "$dir/bad.png"
expect_error "H x W x L given as L x H x W" "layout hwc" -- \
  "$deeplab" crf --image "$data/im1.png" --probs "$data/im1_coarse_prob_240x320x21.npy" --out "$dir/bad.png"
"$make_files" poison "$dir/p1.npy" "$dir/nan.npy"
expect_error "NaN in the probabilities" "nan.npy: .*not finite" -- \
  "$deeplab" crf --image "$data/im1.png" --probs "$dir/nan.npy" --out "$dir/bad.png"
expect_error "zero std" "bi_rgb_std must be a positive number" -- \
  "$deeplab" crf --image "$data/im1.png" --probs "$dir/p1.npy" --out "$dir/bad.png" --crf.bi_rgb_std 0
expect_error "negative std" "pos_xy_std must be a positive number" -- \
  "$deeplab" crf --image "$data/im1.png" --probs "$dir/p1.npy" --out "$dir/bad.png" --crf.pos_xy_std -2
expect_error "not an .npy" "not a NumPy .npy file" -- \
  "$deeplab" crf --image "$data/im1.png" --probs "$data/im1.ppm" --out "$dir/bad.png"
expect_error "missing image" "nothere.png: no such file" -- \
  "$deeplab" crf --image "$dir/nothere.png" --probs "$dir/p1.npy" --out "$dir/bad.png"
expect_error "probs and scores both" "exactly one of --probs and --scores" -- \
  "$deeplab" crf --image "$data/im1.png" --probs "$dir/p1.npy" --scores "$dir/p1.npy" --out "$dir/bad.png"
printf '[crf]\nbi_w = 5\nbi_colour = 3\n' >"$dir/bad.ini"
expect_error "unknown [crf] key" "bad.ini: .*bi_colour" -- \
  "$deeplab" crf --config "$dir/bad.ini" --image "$data/im1.png" --probs "$dir/p1.npy" --out "$dir/bad.png"
printf '[crf]\nbi_w = 0\npos_w = 0\n' >"$dir/off.ini"
"$deeplab" crf --config "$dir/off.ini" --image "$data/im1.png" --probs "$dir/p1.npy" --out "$dir/off.png" >/dev/null &&
  check "[crf] config with the CRF switched off keeps the annotation" "$dir/off.png" "$data/anno1.png" 0.999

finish
