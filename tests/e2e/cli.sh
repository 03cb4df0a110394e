#!/usr/bin/env bash
# End-to-end checks of the deeplab program as a user runs it: help, info on good and bad files,
# bench forward (text and JSON), configs, and the exit codes and messages of mistakes.
set -u
deeplab=$1
make_files=$2
. "$(dirname "$0")/lib.sh"
scratch dir

expect "no command prints usage" 2 "usage: deeplab COMMAND" -- "$deeplab"
expect "help lists commands" 0 "info .*bench" -- bash -o pipefail -c '"$0" --help | tr "\n" " "' "$deeplab"
expect "unknown command" 2 "unknown command 'frobnicate'" -- "$deeplab" frobnicate
# Exit 2 for every bad command line, in every subcommand: an unknown option, a missing value, a
# missing required option, a value of the wrong type. (Bad input files and failed runs exit 1.)
for cmd in info pack convert-voc make-scenes pretrain train segment evaluate crf-sweep import export-caffe forward crf \
           "bench forward" "bench train" "bench crf" "bench loader"; do
  # shellcheck disable=SC2086
  expect "$cmd --bogus: exit 2" 2 "unrecognised option '--bogus'|unrecognized option '--bogus'" -- "$deeplab" $cmd --bogus 1
done
expect "bench --bogus: exit 2" 2 "unknown benchmark '--bogus'" -- "$deeplab" bench --bogus
expect "a missing required option: exit 2" 2 "'--data' is required" -- "$deeplab" train --out "$dir/x"
expect "a missing value: exit 2" 2 "requires an argument|missing" -- "$deeplab" segment --model
expect "a value of the wrong type: exit 2" 2 "solver.max_iter.*invalid" -- "$deeplab" train --data x.h5 --out "$dir/x" --solver.max_iter many
expect "solver.freeze naming no layer: exit 2" 2 "solver.freeze: 'fc9' names no layer.*conv1_1" -- \
  "$deeplab" train --data x.h5 --out "$dir/frozen" --solver.freeze conv,fc9
if [ -e "$dir/frozen" ]; then fail "a refused solver.freeze left $dir/frozen behind"; else pass "a refused solver.freeze writes nothing"; fi
expect "pretrain: solver.freeze naming no layer: exit 2" 2 "'pool9' names no layer" -- \
  "$deeplab" pretrain --out "$dir/frozen" --solver.freeze pool9
expect "a negative --threads: exit 2" 2 "--threads -3: expected 0" -- "$deeplab" bench crf --threads -3
expect "--threads 100000 is refused: exit 2" 2 "--threads 100000: expected 0 \(all cores\) to 1024" -- "$deeplab" bench crf --threads 100000
expect "bench crf --warmup -1: exit 2" 2 "--warmup -1: expected .* warm-up runs of 0 or more" -- "$deeplab" bench crf --warmup -1
expect "bench loader --data.scale_min 0: exit 2" 2 "scale range 0..1.5" -- "$deeplab" bench loader --data x.h5 --data.scale_min 0
expect "a negative crf-sweep --images: exit 2" 2 "--images -5: expected 0" -- \
  "$deeplab" crf-sweep --probs p.h5 --data d.h5 --grid g.ini --out "$dir/x" --images -5
expect "a negative crf-sweep --block-images: exit 2" 2 "--block-images -1" -- \
  "$deeplab" crf-sweep --probs p.h5 --data d.h5 --grid g.ini --out "$dir/x" --block-images -1
expect "a negative crf-sweep --memory-mb: exit 2" 2 "--memory-mb -1" -- \
  "$deeplab" crf-sweep --probs p.h5 --data d.h5 --grid g.ini --out "$dir/x" --memory-mb -1
expect "a negative segment --memory-mb: exit 2" 2 "--memory-mb -7" -- \
  "$deeplab" segment --model m.h5 --data d.h5 --out "$dir/x.h5" --memory-mb -7
expect "segment --json without --evaluate: exit 2" 2 "--json and --confusion-png report the scores of --evaluate" -- \
  "$deeplab" segment --model m.h5 --data d.h5 --out "$dir/x.h5" --json "$dir/x.json"
expect "segment --png-layout without --png: exit 2" 2 "--png-layout needs --png DIR" -- \
  "$deeplab" segment --model m.h5 --data d.h5 --out "$dir/x.h5" --png-layout tree
expect "segment --resume --overwrite: exit 2" 2 "--resume and --overwrite exclude each other" -- \
  "$deeplab" segment --model m.h5 --data d.h5 --out "$dir/x.h5" --resume --overwrite
# Settings the library would refuse only after the run began (or not at all: a NaN scale trained
# on degenerate crops, 100000 loader threads were an internal error): bad command lines, exit 2.
for bad in "--data.loader_threads 100000|--data.loader_threads 100000: expected 1 to 256" \
           "--data.scale_max nan|scale range 1..nan" "--data.crop_size 100000|crop_size 100000 outside 1..4096" \
           "--model.width 0|width 0 outside" "--model.num_classes 300|num_classes 300 outside 1..255"; do
  expect "train ${bad%%|*}: exit 2" 2 "${bad#*|}" -- "$deeplab" train --data x.h5 --out "$dir/never" ${bad%%|*}
done
expect "make-scenes --seed -1: exit 2" 2 "--seed '-1': expected a whole number" -- "$deeplab" make-scenes --out "$dir/never" --seed -1
expect "train --solver.seed -5: exit 2" 2 "--solver.seed '-5': expected a whole number" -- "$deeplab" train --data x.h5 --out "$dir/never" --solver.seed -5
expect "pretrain --model.num_classes 5: exit 2" 2 "pretrain's classes are Fashion-MNIST's 10" -- \
  "$deeplab" pretrain --out "$dir/never" --model.num_classes 5
expect "pretrain --data.scale_min 0: exit 2" 2 "scale range 0..4" -- "$deeplab" pretrain --out "$dir/never" --data.scale_min 0
expect "segment --max-side -1: exit 2" 2 "--max-side -1 must not be negative" -- \
  "$deeplab" segment --model m.h5 --data d.h5 --out "$dir/x.h5" --max-side -1
expect "segment --piece-images 0: exit 2" 2 "--piece-images 0 must be at least 1" -- \
  "$deeplab" segment --model m.h5 --data d.h5 --out "$dir/x.h5" --piece-images 0
expect "pack --num-classes 0: exit 2" 2 "--num-classes 0 outside 1..255" -- \
  "$deeplab" pack --images "$dir" --out "$dir/x.h5" --num-classes 0
[ ! -e "$dir/never" ] && pass "refused settings wrote nothing" || fail "a refused setting left $dir/never behind"
# A pasted binary or overlong value: exit 2, the message a short line of text.
junk="$(printf 'x%.0s' $(seq 1 300))$(printf '\001\033[31m\377')"
out=$("$deeplab" bench forward --size "$junk" 2>&1); status=$?
if [ $status -eq 2 ] && [ ${#out} -lt 200 ] && ! LC_ALL=C grep -q $'[\001\033\377]' <<<"$out"; then
  pass "a binary, overlong value: exit 2, a short clean message (${#out} characters)"
else
  fail "a binary, overlong value: exit $status, ${#out} characters: $(LC_ALL=C cat -v <<<"$out" | head -c 300)"
fi
expect "--config a folder: exit 2" 2 "is a folder, not a config file" -- "$deeplab" bench crf --config "$dir"
expect "--config /dev/zero: exit 2" 2 "/dev/zero: over 1024 KiB" -- "$deeplab" bench crf --config /dev/zero
printf '\xef\xbb\xbf[crf]\n; a comment\n  ; another\nbi_w = 5 # trailing\n' >"$dir/bom.ini"
expect "a config with a byte-order mark and ';' comments" 0 "crf 40x30" -- \
  "$deeplab" bench crf --config "$dir/bom.ini" --size 40x30 --repeats 1 --warmup 0
expect "a bad input file is not a bad command line: exit 1" 1 "nothere.h5: no such file" -- "$deeplab" info "$dir/nothere.h5"
expect "info --help" 0 "usage: deeplab info FILE.h5" -- "$deeplab" info --help
expect "bench forward --help" 0 "--backward" -- "$deeplab" bench forward --help

"$make_files" model "$dir/tiny.h5" msc-largefov 5 0.125 || fail "make model"
"$make_files" model "$dir/tiny-lf.h5" largefov 5 0.125 || fail "make model"
expect "info describes a model" 0 "kind +msc-largefov" -- "$deeplab" info "$dir/tiny.h5"
expect "info lists parameters" 0 "fc8/weight +5x" -- "$deeplab" info "$dir/tiny.h5"
expect "info reports stride" 0 "output stride +8" -- "$deeplab" info "$dir/tiny.h5"

cp "$dir/tiny.h5" "$dir/cut.h5" && truncate -s 3000 "$dir/cut.h5"
expect "truncated file" 1 "cut.h5" -- "$deeplab" info "$dir/cut.h5"
"$make_files" foreign "$dir/foreign.h5"
expect "foreign HDF5" 1 "foreign.h5: .*not one deeplab wrote" -- "$deeplab" info "$dir/foreign.h5"
echo "plain text" >"$dir/text.h5"
expect "not HDF5" 1 "text.h5: not an HDF5 file" -- "$deeplab" info "$dir/text.h5"
expect "missing file" 1 "nothere.h5: no such file" -- "$deeplab" info "$dir/nothere.h5"
mkfifo "$dir/pipe.h5"
expect "a pipe where an HDF5 file is wanted: refused, not waited on" 1 "pipe.h5: not a regular file" -- \
  timeout 20 "$deeplab" info "$dir/pipe.h5"
# A model with a parameter gone: listed as missing with the rest, and exit 1.
cp "$dir/tiny-lf.h5" "$dir/holed.h5"
/usr/bin/python3 -c 'import h5py, sys; del h5py.File(sys.argv[1], "r+")["fc7/bias"]' "$dir/holed.h5" || fail "make holed.h5"
expect "info on a model missing a parameter: exit 1" 1 "fc7/bias .*is missing(.|\n)*holed.h5: 1 parameter\(s\) missing" -- \
  bash -c '"$0" info "$1" 2>&1 | tr "\n" " "; exit "${PIPESTATUS[0]}"' "$deeplab" "$dir/holed.h5"
# A NaN weight under a checksum computed over it (a trainer that diverged and saved): refused
# wherever a model is read, naming the entry and the value.
cp "$dir/tiny-lf.h5" "$dir/nan.h5"
/usr/bin/python3 - "$dir/nan.h5" <<'PY' || fail "make nan.h5"
import sys, zlib, h5py, numpy as np
with h5py.File(sys.argv[1], "r+") as f:
    w = f["conv2_1/weight"][()]
    w.flat[7] = np.nan
    f["conv2_1/weight"][...] = w
    f["conv2_1/weight"].attrs["crc32"] = np.int64(zlib.crc32(w.astype("<f4").tobytes()))
PY
expect "info on a model with a NaN weight: exit 1" 1 "conv2_1/weight .*value 7 is not finite \(nan\)" -- "$deeplab" info "$dir/nan.h5"
/usr/bin/python3 -c 'import numpy as np; np.save("'"$dir"'/x.npy", np.zeros((3, 33, 33), np.float32))'
expect "forward with a NaN weight: exit 1" 1 "nan.h5: entry 'conv2_1/weight' value 7 is not finite" -- \
  "$deeplab" forward --model "$dir/nan.h5" --input "$dir/x.npy" --out "$dir/s.npy"

expect "bench forward text" 0 "forward largefov 33x33 on cpu, batch 2.*GFLOP/s.*peak RSS" -- \
  "$deeplab" bench forward --model.kind largefov --size 33 --batch 2 --model.width 0.125 --repeats 2 --warmup 0
json=$("$deeplab" bench forward --model.kind deeplab --size 33x41 --model.width 0.0625 --repeats 1 --warmup 0 --backward --json)
if grep -qE '^\{"benchmark": "train_step".*"median_ms": [0-9.]+.*"gflop": [0-9.]*[1-9].*"gflops_per_s": [0-9.]+, "peak_rss_mb": [0-9.]+.*\}$' <<<"$json"; then
  pass "bench forward --backward --json"
else
  fail "bench forward --json: $json"
fi

# --device: auto falls back to the CPU without a GPU; cuda without one is a clear error.
tiny=(--model.kind largefov --size 33 --model.width 0.125 --repeats 1 --warmup 0)
expect "bench forward --device auto" 0 "on (cpu|cuda:0), batch 1" -- "$deeplab" bench forward "${tiny[@]}" --device auto
if "$deeplab" info --devices 2>/dev/null | grep -q "cuda:0"; then
  pass "a GPU is visible: --device cuda without one not checked"
else
  expect "bench forward --device cuda, no GPU" 1 "--device cuda: no CUDA device" -- \
    "$deeplab" bench forward "${tiny[@]}" --device cuda
fi
expect "unknown device" 2 "unknown device 'gpu'" -- "$deeplab" bench forward "${tiny[@]}" --device gpu

# The model file as a user of h5py sees it (README's snippet).
/usr/bin/python3 -c 'import h5py' 2>/dev/null || fail "python3-h5py is missing (./run.sh setup installs it)"
expect "h5py reads the model file" 0 "^largefov 5 \(8, 3, 3, 3\) \(5,\)$" -- /usr/bin/python3 -c '
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    assert f.attrs["format"].decode() == "deeplab-model"
    print(f.attrs["kind"].decode(), f.attrs["num_classes"], f["conv1_1/weight"].shape, f["fc8/bias"].shape)
' "$dir/tiny-lf.h5"

# A config file under the command line (the command line wins), and an unknown key in it.
cat >"$dir/bench.ini" <<INI
size = 9999
repeats = 1
warmup = 0
[model]
kind = deeplab
width = 0.0625
INI
expect "config file, command line wins" 0 "forward deeplab 33x33" -- "$deeplab" bench forward --config "$dir/bench.ini" --size 33
echo "speed = ludicrous" >>"$dir/bench.ini"
expect "unknown config key" 2 "bench.ini: .*speed" -- "$deeplab" bench forward --config "$dir/bench.ini"

# The built-in data set: made, described, read the way README's h5py snippet does.
[ -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ] ||
  fail "dataset-fashion-mnist is missing (./run.sh setup installs it)"
expect "make-scenes" 0 "val.h5: 3 scenes of 64x64, 11 classes" -- \
  "$deeplab" make-scenes --out "$dir/scenes" --train 5 --val 3 --size 64 --seed 7
expect "info on a dataset" 0 "images +5" -- "$deeplab" info "$dir/scenes/train.h5"
expect "info lists class names" 0 "10 +ankle boot" -- "$deeplab" info "$dir/scenes/train.h5"
cp "$dir/scenes/val.h5" "$dir/val-first.h5"
"$deeplab" make-scenes --out "$dir/scenes" --train 5 --val 3 --size 64 --seed 7 >/dev/null 2>&1 ||
  fail "make-scenes, second run"
expect "make-scenes is deterministic for a seed" 0 "same: 3 images" -- "$make_files" same-dataset "$dir/scenes/val.h5" "$dir/val-first.h5"
"$deeplab" make-scenes --out "$dir/other" --train 1 --val 3 --size 64 --seed 8 >/dev/null 2>&1 || fail "make-scenes, seed 8"
expect "another seed, other scenes" 1 "differs" -- "$make_files" same-dataset "$dir/other/val.h5" "$dir/val-first.h5"
expect "h5py reads image 0 of a dataset" 0 "^val_0 \(64, 64, 3\) uint8 \(64, 64\) 11$" -- /usr/bin/python3 -c '
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
  entry = f["images/000000"]
  rgb, label = entry["rgb"][...], entry["label"][...]
  print(entry.attrs["name"].decode(), rgb.shape, rgb.dtype, label.shape, len(f.attrs["class_names"]))
' "$dir/scenes/val.h5"
# A multi-scale model on 64-pixel scenes (not 8k+1): padded to 65, segmented, a label per pixel.
"$make_files" model "$dir/tiny11.h5" msc-largefov 11 0.125 || fail "make model"
expect "msc-largefov segments 64-pixel scenes" 0 "3 images \\(3 computed" -- \
  "$deeplab" segment --model "$dir/tiny11.h5" --data "$dir/scenes/val.h5" --out "$dir/msc-val.h5" --crf
expect "h5py reads msc-largefov's labels at the scenes' size" 0 "^\(64, 64\) uint8$" -- /usr/bin/python3 -c '
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
  d = f["images/000000/labels"]
  print(d.shape, d.dtype)
' "$dir/msc-val.h5"
expect "bench loader" 0 "loader .*48x48 crops, batch 2, 2 threads: [0-9.]+ images/s" -- \
  "$deeplab" bench loader --data "$dir/scenes/train.h5" --data.crop_size 48 --batch 2 --batches 3
# Memory stays flat however long the loader runs (it grew ~0.9 MB an image before main() fixed
# glibc's mmap threshold): 400 images at 321 crops under 250 MB.
rss=$("$deeplab" bench loader --data "$dir/scenes/train.h5" --data.crop_size 321 --batch 2 --batches 200 --json |
      sed -E 's/.*"peak_rss_mb": ([0-9]+).*/\1/')
[ "${rss:-9999}" -lt 250 ] && pass "loader memory stays flat ($rss MB after 400 images)" || fail "loader peak RSS $rss MB"
expect "make-scenes without Fashion-MNIST" 1 "nowhere/train-images-idx3-ubyte.gz: cannot open" -- \
  "$deeplab" make-scenes --out "$dir/none" --train 2 --val 1 --fashion-mnist "$dir/nowhere"
[ ! -e "$dir/none/train.h5" ] && pass "nothing written when the source is missing" || fail "left $dir/none/train.h5"
expect "make-scenes tiny canvas" 2 "each side must be in 32..4096" -- "$deeplab" make-scenes --out "$dir/x" --size 10
expect "make-scenes tiny side" 2 "--size 96x20: each side must be in 32..4096" -- "$deeplab" make-scenes --out "$dir/x" --size 96x20
expect "make-scenes WxH" 0 "2 scenes of 96x64" -- "$deeplab" make-scenes --out "$dir/wide" --train 2 --val 1 --size 96x64
expect "WxH scenes are W wide and H high" 0 "size +64..64 x 96..96 \(H x W\)" -- "$deeplab" info "$dir/wide/train.h5"

expect "bad size" 2 "--size 'abc'" -- "$deeplab" bench forward --size abc
expect "bad model" 2 "unknown model kind 'vgg'" -- "$deeplab" bench forward --model.kind vgg
expect "import takes the network as train does" 2 "unrecognised option '--num-classes'" -- \
  "$deeplab" import --caffemodel x.caffemodel --num-classes 21 --out "$dir/x.h5"
expect "fc6 dilation on a kind without it" 2 "applies to largefov and msc-largefov, not deeplab" -- \
  "$deeplab" bench forward --model.kind deeplab --model.fc6_dilation 4
expect "fc6 dilation out of range" 2 "--model.fc6_dilation 65 must be in 0..64" -- "$deeplab" train --data x.h5 --out "$dir/d65" --model.fc6_dilation 65
expect "unknown benchmark" 2 "unknown benchmark 'warp'" -- "$deeplab" bench warp
expect "bench crf" 0 "crf 50x40, 5 labels, 3 iterations.*setup.*per megapixel" -- \
  "$deeplab" bench crf --size 50x40 --labels 5 --crf.iterations 3 --repeats 1 --warmup 0
expect "bench crf takes a [crf] config, as segment and crf do" 0 "crf 50x40, 5 labels, 4 iterations" -- \
  "$deeplab" bench crf --size 50x40 --labels 5 --repeats 1 --warmup 0 --config <(printf '[crf]\niterations = 4\nbi_w = 5\n')

# Jobs of one input and one output under mpirun: rank 0 does them once, the others wait for it
# (they would have written the same file and collided on its lock); a failure on rank 0 ends
# them all with its status.
"$deeplab" make-scenes --out "$dir/one" --train 6 --val 3 --size 64 >/dev/null 2>&1 || fail "make-scenes, one process"
expect "make-scenes on 2 ranks" 0 "6 scenes of 64x64" -- $mpirun 2 "$deeplab" make-scenes --out "$dir/two" --train 6 --val 3 --size 64
expect "make-scenes on 2 ranks writes what one process writes" 0 "same: 6 images" -- \
  "$make_files" same-dataset "$dir/one/train.h5" "$dir/two/train.h5"
expect "crf on 2 ranks: a missing image fails the job" 1 "rank 0: error: $dir/none.png" -- \
  timeout 60 $mpirun 2 "$deeplab" crf --image "$dir/none.png" --probs "$dir/none.npy" --out "$dir/none-crf.png"
expect "info on 2 ranks: a bad command line exits 2" 2 "unrecognised option '--bogus'" -- timeout 60 $mpirun 2 "$deeplab" info --bogus

finish
