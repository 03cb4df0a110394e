#!/usr/bin/env bash
# Real collections end to end: a VOC-test-like folder of unlabelled JPEG photographs in nested
# folders (made from the densecrf photographs and the scenes, 1x1 up to 4032x3024) goes through
# `pack` on 1 and 3 ranks (identical files), `segment` on 2 ranks with the CRF and --max-side,
# killed and resumed (identical output), to palette PNGs in the PASCAL server layout that PIL
# opens with VOC's palette at the photographs' sizes. Also: --encoding source against the JPEG
# bytes and a direct decode (PIL), the tree layout, bad input, and unlabelled data refused by the
# jobs that need labels.
# usage: pack.sh DEEPLAB MAKE_TEST_FILES CRF_EXAMPLES_DIR CONFIGS_DIR
set -u
bin=$1
tool=$2
examples=$3
configs=$4
source "$(dirname "$0")/lib.sh"
scratch work
export OMP_NUM_THREADS=1
py=/usr/bin/python3

# The folder: photographs at several sizes and JPEG qualities, scenes, a 1x1, a 12-megapixel
# phone-sized picture; a text file and a hidden folder that must be passed over.
"$bin" make-scenes --out "$work/scenes" --train 1 --val 12 --size 96 --voc-layout >/dev/null 2>&1 || fail "make-scenes"
photos=$work/photos
$py - "$examples" "$work/scenes/voc" "$photos" <<'PY' || fail "making the photographs"
import os, sys, shutil
from PIL import Image
examples, voc, out = sys.argv[1:]
def save(img, rel, **kw):
    os.makedirs(os.path.dirname(os.path.join(out, rel)), exist_ok=True)
    img.save(os.path.join(out, rel), **kw)
ims = [Image.open(os.path.join(examples, f"im{k}.png")).convert("RGB") for k in (1, 2, 3)]
save(ims[0], "2008/2008_000001.jpg", quality=90)
save(ims[1].resize((500, 375)), "2008/2008_000002.jpg", quality=75)
save(ims[2].resize((375, 500)), "2009/deep/2009_000003.jpg", quality=95)
save(ims[0].resize((1, 1)), "2009/deep/tiny.jpg")
save(ims[1].resize((4032, 3024), Image.BILINEAR), "big/phone.jpg", quality=85)
save(ims[2].convert("L"), "2010/grey.jpg", quality=90)
os.makedirs(os.path.join(out, "scenes"))
for k in range(12):
    shutil.copy(os.path.join(voc, "JPEGImages", f"val_{k}.jpg"), os.path.join(out, "scenes"))
open(os.path.join(out, "notes.txt"), "w").write("not an image\n")
os.makedirs(os.path.join(out, ".thumbnails"))
ims[0].save(os.path.join(out, ".thumbnails", "x.jpg"))
PY
jpeg_bytes=$(find "$photos" -path '*/.thumbnails' -prune -o -name '*.jpg' -print0 | xargs -0 cat | wc -c)

# 1. pack on 1 and 3 ranks: the same bytes; names, order, labels, sizes as documented.
expect "pack, 1 rank" 0 "18 of 18 images packed, 0 labelled" -- "$bin" pack --images "$photos" --out "$work/one.h5"
expect "pack, 3 ranks" 0 "18 of 18 images packed, 0 labelled; .*3 rank" -- $mpirun 3 "$bin" pack --images "$photos" --out "$work/three.h5"
cmp -s "$work/one.h5" "$work/three.h5" && pass "pack: 1 and 3 ranks give byte-identical files" || fail "pack: 1 and 3 ranks differ"
expect "pack names the ignored file" 0 "1 other files ignored" -- "$bin" pack --images "$photos" --out "$work/again.h5"
expect "info shows the labelled count" 0 "labelled +0" -- "$bin" info "$work/one.h5"
$py - "$work/one.h5" <<'PY' && pass "entries sorted by relative path, named without extension, unlabelled" || fail "entry names or order"
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    names = [f["images/%06d" % i].attrs["name"].decode() for i in range(f.attrs["count"])]
    assert names[:6] == ["2008/2008_000001", "2008/2008_000002", "2009/deep/2009_000003", "2009/deep/tiny", "2010/grey", "big/phone"], names
    assert names[6:] == ["scenes/val_%d" % k for k in (0, 1, 10, 11, 2, 3, 4, 5, 6, 7, 8, 9)], names
    assert f.attrs["version"] == 2 and f.attrs["labelled"] == 0 and f.attrs["num_classes"] == 0
    assert all("label" not in f["images/%06d" % i] for i in range(18))
    assert f["images/000005"].attrs["height"] == 3024 and f["images/000005"].attrs["width"] == 4032
PY

# 2. --encoding source: about the size of the JPEGs; pixels equal to a direct decode.
size=$(stat -c %s "$work/one.h5")
$py -c "import sys; r = $size / $jpeg_bytes; print('dataset / JPEG bytes = %.3f' % r); sys.exit(0 if 0.9 <= r <= 1.1 else 1)" \
  && pass "source encoding: dataset within 10% of the JPEG bytes ($size / $jpeg_bytes)" || fail "source encoding: $size bytes for $jpeg_bytes of JPEG"
"$bin" pack --images "$photos" --out "$work/raw.h5" --encoding raw >/dev/null 2>&1 || fail "pack --encoding raw"
$py - "$work/raw.h5" "$photos" <<'PY' && pass "raw pixels equal PIL's decode of every JPEG" || fail "raw pixels differ from a direct decode"
import sys, h5py, numpy as np
from PIL import Image
with h5py.File(sys.argv[1], "r") as f:
    for i in range(f.attrs["count"]):
        e = f["images/%06d" % i]
        ref = np.asarray(Image.open("%s/%s.jpg" % (sys.argv[2], e.attrs["name"].decode())).convert("RGB"))
        assert np.array_equal(ref, e["rgb"][()]), e.attrs["name"]
PY
expect "source entries decode to the raw pixels" 0 "same: 18 images" -- "$tool" same-dataset "$work/raw.h5" "$work/one.h5"

# 3. segment on 2 ranks with the CRF, scaled to 500 a side, into the server layout; both ranks
#    killed (-9) part way, then --resume: the same file and the same PNGs.
"$tool" model "$work/m.h5" largefov 21 0.125
seg=(segment --model "$work/m.h5" --data "$work/one.h5" --crf --max-side 500 --piece-images 1 --png-layout voc-server)
expect "segment, 2 ranks, CRF, --max-side" 0 "18 images \(18 computed" -- $mpirun 2 "$bin" "${seg[@]}" --out "$work/straight.h5" --png "$work/png-straight"
$mpirun 2 "$bin" "${seg[@]}" --out "$work/cut.h5" --png "$work/png-cut" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 5000); do [ -e "$work/cut.h5.parts/piece-000001.h5" ] && break; sleep 0.002; done
pkill -9 -P $pid  # both ranks, at once (mpirun itself takes a second to pass a signal on)
wait $pid 2>/dev/null
pieces=$(ls "$work/cut.h5.parts"/piece-*.h5 2>/dev/null | wc -l)
[ ! -e "$work/cut.h5" ] && [ "$pieces" -ge 1 ] && [ "$pieces" -lt 18 ] && pass "killed with $pieces of 18 pieces written" \
  || fail "the kill came too late or too early ($pieces pieces)"
expect "resumed on 2 ranks" 0 "from an interrupted run" -- $mpirun 2 "$bin" "${seg[@]}" --out "$work/cut.h5" --png "$work/png-cut" --resume
cmp -s "$work/straight.h5" "$work/cut.h5" && pass "killed and resumed: byte-identical predictions" || fail "resumed predictions differ"
diff -r -x "*.tmp.*" "$work/png-straight" "$work/png-cut" >/dev/null && pass "killed and resumed: identical PNGs" || fail "resumed PNGs differ"
$py - "$work/png-straight" "$photos" <<'PY' && pass "server layout: palette PNGs with VOC's colours at the photographs' sizes" || fail "server PNGs"
import os, sys
from PIL import Image
root, photos = sys.argv[1:]
folder = os.path.join(root, "results/VOC2012/Segmentation/comp6_test_cls")
files = sorted(os.listdir(folder))
assert len(files) == 18 and os.listdir(root) == ["results"], (files, os.listdir(root))
def voc(k):
    c = [0, 0, 0]
    for bit in range(7, -1, -1):
        for ch in range(3): c[ch] |= ((k >> ch) & 1) << bit
        k >>= 3
    return c
palette = sum((voc(k) for k in range(256)), [])
for name, source in [("2008_2008_000001", "2008/2008_000001"), ("big_phone", "big/phone"), ("2009_deep_tiny", "2009/deep/tiny")]:
    png = Image.open(os.path.join(folder, name + ".png"))
    assert png.mode == "P" and png.getpalette()[:768] == palette, (name, png.mode)
    assert png.size == Image.open(os.path.join(photos, source + ".jpg")).size, (name, png.size)
    assert max(png.getdata()) < 21
PY
expect "info shows --max-side" 0 "scaled to at most 500 pixels a side; the CRF too" -- "$bin" info "$work/straight.h5"
expect "--max-side is recorded" 0 "" -- $py -c "import h5py; f = h5py.File('$work/straight.h5', 'r'); assert f.attrs['max_side'] == 500 and f['images/000005/labels'].shape == (3024, 4032)"

# 4. The tree layout mirrors the folders; overlays (image | prediction) on request.
expect "segment, tree layout" 0 "18 images" -- "$bin" segment --model "$work/m.h5" --data "$work/one.h5" --out "$work/tree.h5" \
  --max-side 300 --png "$work/tree" --png-layout tree --overlays
[ -s "$work/tree/2009/deep/2009_000003.png" ] && [ -s "$work/tree/scenes/val_11.png" ] && [ -s "$work/tree/2009/deep/tiny_overlay.png" ] \
  && pass "tree layout: the input's folders mirrored, overlays beside" || fail "tree layout: $(cd "$work/tree" && find . | head -5 | tr '\n' ' ')"
$py -c "from PIL import Image; im = Image.open('$work/tree/2008/2008_000001_overlay.png'); assert im.size == (2 * 320 + 4, 240), im.size" \
  && pass "an unlabelled overlay is image | prediction" || fail "overlay size"

# 5. Big photographs without --max-side: refused before anything is allocated, naming the image
#    and the option; the same image fits with --max-side.
expect "too big for --memory-mb: named, with the option to use" 1 "'big/phone' \(4032x3024\) would take about [0-9]+ MB.*--memory-mb 400; pass --max-side [0-9]+" -- \
  "$bin" segment --model "$work/m.h5" --data "$work/one.h5" --out "$work/big.h5" --memory-mb 400
[ ! -e "$work/big.h5" ] && pass "no output after the refusal" || fail "output left after the refusal"
expect "--max-side makes it fit" 0 "18 images" -- "$bin" segment --model "$work/m.h5" --data "$work/one.h5" --out "$work/big.h5" --memory-mb 400 --max-side 1000

# 6. Labels where there are some: paired by name; info counts them; the jobs that need labels
#    refuse a collection with unlabelled entries, naming the first.
mkdir -p "$work/labels/scenes"
for k in 0 1 2; do cp "$work/scenes/voc/SegmentationClass/val_$k.png" "$work/labels/scenes/val_$k.png"; done
cp "$work/scenes/voc/SegmentationClass/val_3.png" "$work/labels/orphan.png"
names=background,t-shirt,trouser,pullover,dress,coat,sandal,shirt,sneaker,bag,ankle-boot
expect "pack --labels pairs by name" 0 "18 of 18 images packed, 3 labelled.*1 label maps match no image" -- \
  bash -o pipefail -c "\"$bin\" pack --images \"$photos\" --labels \"$work/labels\" --class-names $names --out \"$work/some.h5\" | tr '\n' ' '"
expect "info: 3 labelled, the classes named" 0 "labelled +3.*classes +11.*ankle-boot" -- bash -o pipefail -c "\"$bin\" info \"$work/some.h5\" | tr '\n' ' '"
expect "--class-names and --num-classes must agree" 2 "11 class names for --num-classes 5" -- \
  "$bin" pack --images "$photos" --class-names $names --num-classes 5 --out "$work/bad.h5"
"$bin" segment --model "$work/m.h5" --data "$work/one.h5" --out "$work/probs.h5" --max-side 200 --save-probs >/dev/null 2>&1 || fail "segment --save-probs"
expect "evaluate refuses unlabelled data" 1 "one.h5: entry 0 \('2008/2008_000001'\) has no label map, and evaluate needs one" -- \
  "$bin" evaluate --pred "$work/probs.h5" --data "$work/one.h5"
expect "segment --evaluate refuses before the work" 1 "some.h5: entry 0 .*segment --evaluate needs one.*3 of 18 are labelled" -- \
  "$bin" segment --model "$work/m.h5" --data "$work/some.h5" --out "$work/never.h5" --evaluate
[ ! -e "$work/never.h5.parts" ] && pass "nothing computed before the refusal" || fail "segment --evaluate started work"
expect "train refuses unlabelled data" 1 "one.h5: entry 0 .*training needs one" -- \
  "$bin" train --config "$configs/scenes-tiny.ini" --data "$work/one.h5" --out "$work/train" --solver.max_iter 1
expect "crf-sweep refuses unlabelled data" 1 "one.h5: entry 0 .*crf-sweep needs one" -- \
  "$bin" crf-sweep --probs "$work/probs.h5" --data "$work/one.h5" --grid "$configs/crf-grid.ini" --out "$work/sweep"

# 7. Bad input: errors naming the file, exit 1, nothing half-written; --skip-bad reports and goes on.
mkdir -p "$work/broken/sub" "$work/empty/sub" "$work/badlabels"
cp "$photos/2008/2008_000001.jpg" "$photos/2008/2008_000002.jpg" "$work/broken/"
$py -c "from PIL import Image; Image.new('L', (10, 10)).save('$work/badlabels/2008_000001.png')"
expect_refused "$work" "a label map of the wrong size" "badlabels/2008_000001.png: the label map is 10x10 but its image .*2008_000001.jpg is 320x240" -- \
  "$bin" pack --images "$work/broken" --labels "$work/badlabels" --out "$work/bad.h5"
head -c 9000 "$photos/2008/2008_000001.jpg" >"$work/broken/sub/cut.jpg"
expect_refused "$work" "truncated JPEG" "broken/sub/cut.jpg: damaged JPEG: Premature end of JPEG file" -- \
  "$bin" pack --images "$work/broken" --out "$work/bad.h5"
expect_refused "$work" "a failing rank ends the job" "rank [0-2]: error: .*cut.jpg: damaged JPEG" -- \
  timeout 60 $mpirun 3 "$bin" pack --images "$work/broken" --out "$work/bad.h5"
echo "this is text, not a picture" >"$work/broken/sub/fake.png"
expect_refused "$work" "a PNG that is a text file" "broken/sub/fake.png: not a PNG, JPEG, PPM/PGM or BMP file" -- \
  "$bin" pack --images "$work/broken" --out "$work/bad.h5"
expect "--skip-bad packs the rest and lists what it left out" 0 "2 of 4 images packed.*skipped .*fake.png: not a PNG.*skipped .*cut.jpg: damaged JPEG" -- \
  bash -o pipefail -c "\"$bin\" pack --images \"$work/broken\" --out \"$work/skip.h5\" --skip-bad | tr '\n' ' '"
expect_refused "$work" "an empty folder" "empty: no images found" -- "$bin" pack --images "$work/empty" --out "$work/bad.h5"
# Pictures in formats not read here are named, not counted among "other files"; an image given
# as --images is not read as a list.
mkdir -p "$work/tiff" && cp "$photos/2008/2008_000001.jpg" "$work/tiff/"
$py -c "from PIL import Image; Image.new('RGB', (20, 10), (1, 2, 3)).save('$work/tiff/scan.tif')"
expect_refused "$work" "a TIFF among the photographs" "tiff/scan.tif: a TIFF image, which is not read here .*convert it" -- \
  "$bin" pack --images "$work/tiff" --out "$work/bad.h5"
expect_refused "$work" "an image given as --images" "2008_000001.jpg: is an image, not a folder or a list of images" -- \
  "$bin" pack --images "$photos/2008/2008_000001.jpg" --out "$work/bad.h5"
# An existing output is kept unless --overwrite (pack had replaced a labelled set without a word).
before=$(cksum <"$work/skip.h5")
expect "an existing output is refused" 1 "skip.h5: exists; pass --overwrite to replace it" -- \
  "$bin" pack --images "$work/broken" --out "$work/skip.h5" --skip-bad
[ "$(cksum <"$work/skip.h5")" = "$before" ] && pass "the existing output is as it was" || fail "the refused run changed skip.h5"
expect "--overwrite replaces it" 0 "2 of 4 images packed" -- "$bin" pack --images "$work/broken" --out "$work/skip.h5" --skip-bad --overwrite
# Every image bad under --skip-bad: the reasons, not only the count.
mkdir -p "$work/allbad" && cp "$work/broken/sub/cut.jpg" "$work/broken/sub/fake.png" "$work/allbad/"
expect "--skip-bad with every image bad names each" 1 "none of the 2 images could be packed:.*fake.png: not a PNG.*cut.jpg: damaged JPEG" -- \
  bash -c '"$0" pack --images "$1" --out "$2" --skip-bad 2>&1 | tr "\n" " "; exit "${PIPESTATUS[0]}"' "$bin" "$work/allbad" "$work/allbad.h5"
printf '2008/2008_000001.jpg\n# a comment\n\nbig/phone.jpg\n' >"$photos/list.txt"
expect "a list keeps its order, names relative to the common folder" 0 "2 of 2 images packed" -- \
  "$bin" pack --images "$photos/list.txt" --out "$work/list.h5"
$py -c "import h5py; f = h5py.File('$work/list.h5', 'r'); n = [f['images/%06d' % i].attrs['name'].decode() for i in range(2)]; assert n == ['2008/2008_000001', 'big/phone'], n" \
  && pass "list entries named and ordered" || fail "list entries"
printf 'missing.jpg\n' >"$work/missing.txt"
expect_refused "$work" "a list naming a missing file" "missing.txt: line 1: .*missing.jpg: no such file" -- \
  "$bin" pack --images "$work/missing.txt" --out "$work/bad.h5"

finish
