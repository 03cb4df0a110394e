#!/usr/bin/env bash
# deeplab export-caffe, import and forward end to end: a round trip through both caffemodel
# layouts gives the same parameters bit for bit; forward takes 3-D and 4-D arrays; bad files get
# clear errors naming the file or layer, and no output.
# usage: caffe.sh DEEPLAB MAKE_TEST_FILES
set -u
bin=$1
tool=$2
source "$(dirname "$0")/lib.sh"
scratch work
export OMP_NUM_THREADS=1

"$tool" model "$work/m.h5" largefov 21 0.125
"$tool" model "$work/dl.h5" deeplab 21 0.125
for layout in v1 v2; do
  flag=""; [ $layout = v1 ] && flag=--v1
  expect "export-caffe ($layout)" 0 "wrote" -- "$bin" export-caffe --model "$work/m.h5" --out "$work/$layout.caffemodel" \
    --prototxt "$work/deploy.prototxt" --size 321x321 $flag
  expect "import ($layout)" 0 "wrote" -- "$bin" import --caffemodel "$work/$layout.caffemodel" --model.kind largefov \
    --model.num_classes 21 --model.width 0.125 --out "$work/back-$layout.h5"
  if out=$("$tool" compare-models "$work/m.h5" "$work/back-$layout.h5" 0); then pass "round trip $layout: $out"; else fail "round trip $layout: $out"; fi
done
grep -q 'dilation: 12' "$work/deploy.prototxt" && grep -q 'pool: AVE' "$work/deploy.prototxt" \
  && pass "deploy prototxt has fc6's dilation and pool5a" || fail "deploy prototxt"

# forward: one image (3 x H x W) and a batch (N x 3 x H x W).
/usr/bin/python3 -c "
import numpy as np
np.save('$work/x3.npy', (np.random.default_rng(1).random((3, 41, 57)) * 250 - 120).astype(np.float32))
np.save('$work/x4.npy', np.stack([np.load('$work/x3.npy')] * 2))"
expect "forward, one image" 0 "scores \[21, 6, 8\]|21 x 6 x 8|21x6x8" -- "$bin" forward --model "$work/m.h5" --input "$work/x3.npy" --out "$work/s3.npy"
expect "forward, a batch" 0 "wrote|scores" -- "$bin" forward --model "$work/m.h5" --input "$work/x4.npy" --out "$work/s4.npy"
/usr/bin/python3 -c "
import numpy as np
a, b = np.load('$work/s3.npy'), np.load('$work/s4.npy')
assert a.dtype == np.float32 and a.shape == (21, 6, 8) and b.shape == (2, 21, 6, 8), (a.shape, b.shape)
assert np.abs(b[0] - a).max() <= 1e-5 * np.abs(a).max() and np.abs(b[1] - a).max() <= 1e-5 * np.abs(a).max()
" && pass "forward: shapes, and batch entries equal the single image" || fail "forward outputs"

# --precision bf16: scores within bf16's rounding of f32's (an 8-bit mantissa, through 9
# layers), yet not f32's bit for bit, so bf16 ran. DNNL_MAX_CPU_ISA=AVX512_CORE makes oneDNN
# act as on a CPU without bf16: there bf16 is refused (exit 1) and auto computes in f32.
if grep -qwE 'avx512_bf16|amx_bf16' /proc/cpuinfo; then
  expect "forward --precision bf16" 0 "scores" -- "$bin" forward --model "$work/m.h5" --input "$work/x4.npy" --out "$work/s4b.npy" --precision bf16
  if out=$(/usr/bin/python3 -c "
import numpy as np
a, b = np.load('$work/s4.npy'), np.load('$work/s4b.npy')
rel = np.abs(b - a).max() / np.abs(a).max()
assert b.dtype == np.float32 and b.shape == a.shape and 0 < rel <= 0.03, rel
print('largest difference %.4f of the largest score' % rel)" 2>&1); then pass "bf16 scores: $out"; else fail "bf16 scores: $out"; fi
else
  pass "bf16 scores not compared: this CPU has neither AVX512-BF16 nor AMX"
fi
expect "--precision fp32 (DESIGN.md's name) is f32" 0 "scores" -- \
  "$bin" forward --model "$work/m.h5" --input "$work/x4.npy" --out "$work/s4f.npy" --precision fp32
cmp -s "$work/s4.npy" "$work/s4f.npy" && pass "fp32: f32's scores, bit for bit" || fail "fp32 differs from f32"
expect "--precision half: exit 2" 2 "--precision half: expected f32 \(fp32\), bf16 or auto" -- \
  "$bin" forward --model "$work/m.h5" --input "$work/x4.npy" --out "$work/bad6.npy" --precision half
expect "--precision bf16 where the CPU has none: exit 1" 1 "neither AVX512-BF16 nor AMX" -- \
  env DNNL_MAX_CPU_ISA=AVX512_CORE "$bin" forward --model "$work/m.h5" --input "$work/x4.npy" --out "$work/bad7.npy" --precision bf16
expect "--precision auto where the CPU has none: f32, with a warning" 0 "computing in f32" -- \
  env DNNL_MAX_CPU_ISA=AVX512_CORE "$bin" forward --model "$work/m.h5" --input "$work/x4.npy" --out "$work/s4a.npy" --precision auto
cmp -s "$work/s4.npy" "$work/s4a.npy" && pass "auto without bf16: f32's scores, bit for bit" || fail "auto without bf16 differs from f32"

# Errors: nothing written.
expect "another network's weights" 1 "layer 'fc6'.*weights are" -- \
  "$bin" import --caffemodel "$work/v2.caffemodel" --model.kind deeplab --model.num_classes 21 --model.width 0.125 --out "$work/bad1.h5"
"$bin" export-caffe --model "$work/dl.h5" --out "$work/dl.caffemodel" >/dev/null 2>&1
expect "another class count" 1 "layer 'fc8'.*weights are" -- \
  "$bin" import --caffemodel "$work/v2.caffemodel" --model.num_classes 5 --model.width 0.125 --out "$work/bad2.h5"
expect "another class count, --allow-missing fc8" 0 "kept as initialised: fc8" -- \
  "$bin" import --caffemodel "$work/v2.caffemodel" --model.num_classes 5 --model.width 0.125 --out "$work/ft.h5" --allow-missing fc8
head -c 20000 "$work/v2.caffemodel" > "$work/cut.caffemodel"
expect "truncated caffemodel" 1 "cut.caffemodel.*truncated" -- \
  "$bin" import --caffemodel "$work/cut.caffemodel" --model.width 0.125 --out "$work/bad3.h5"
cp "$work/deploy.prototxt" "$work/text.caffemodel"
expect "a text file" 1 "text.caffemodel" -- "$bin" import --caffemodel "$work/text.caffemodel" --model.width 0.125 --out "$work/bad4.h5"
expect "forward on a 2-channel array" 1 "x2.npy: expected 3 x H x W" -- sh -c "
  /usr/bin/python3 -c \"import numpy as np; np.save('$work/x2.npy', np.zeros((2, 9, 9), np.float32))\" &&
  '$bin' forward --model '$work/m.h5' --input '$work/x2.npy' --out '$work/bad5.npy'"
n=$(ls "$work"/bad* 2>/dev/null | wc -l)  # outputs and their temporaries (bad3.h5.tmp.PID)
[ "$n" -eq 0 ] && pass "no output after any error" || fail "$n outputs written after errors"
finish
