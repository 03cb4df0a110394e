#!/usr/bin/env bash
# The one entry point: ./run.sh setup | build | test | demo | bench
#   setup  install the Debian packages the build needs (no apt call when all are present)
#   build  configure and build (Release) -> build/bin/deeplab
#   test   setup + build + the whole test suite (ctest)
#   demo   setup + build + the demo (see README.md)
#   bench  setup + build + benchmarks side by side with PyTorch (installs python3-torch)
#   fuzz   libFuzzer on the dataset reader, the label PNG reader and the image decoders (a clang build)
# Environment: BUILD_DIR (default build), DEEPLAB_CUDA=ON|OFF (default: ON when nvcc is found),
# JOBS (parallel build jobs, default: all cores).
set -euo pipefail
cd "$(dirname "$0")"
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}

PACKAGES=(
  cmake g++ make pkg-config
  libopenmpi-dev openmpi-bin
  libhdf5-dev hdf5-tools zlib1g-dev
  dataset-fashion-mnist                           # the built-in scenes are made from it
  libopencv-core-dev libopencv-imgproc-dev        # resizing and drawing
  libopencv-dnn-dev                               # a test runs our exported Caffe model in OpenCV
  libturbojpeg0-dev libpng-dev                    # image decoding and encoding
  libboost-program-options-dev
  libgtest-dev libbenchmark-dev
  libdnnl-dev ocl-icd-opencl-dev opencl-headers  # Debian's oneDNN cmake config asks for OpenCL
  python3-h5py python3-numpy python3-pil          # tests read our files the way users do
  slurm-wlm munge iproute2 util-linux             # the cluster scripts are tested on a local Slurm (3 nodes: netns)
)
BENCH_PACKAGES=(python3-torch time)
FUZZ_PACKAGES=(clang libclang-rt-14-dev libomp-dev)

log() { printf '\033[1m[run.sh]\033[0m %s\n' "$*" >&2; }

missing_packages() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
}

install_packages() {
  local missing
  missing=$(missing_packages "$@")
  [ -z "$missing" ] && return 0
  log "installing:" $missing
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo=sudo
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -q
  # shellcheck disable=SC2086
  $sudo apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=600 $missing
}

setup() { install_packages "${PACKAGES[@]}"; }

build() {
  local cuda_flag=()
  [ -n "${DEEPLAB_CUDA:-}" ] && cuda_flag=(-DDEEPLAB_CUDA="$DEEPLAB_CUDA")
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release "${cuda_flag[@]}" >/dev/null
  cmake --build "$BUILD_DIR" -j "$JOBS"
  log "built $BUILD_DIR/bin/deeplab"
}

# Open MPI refuses to run as root unless told that it is meant.
mpi_env() {
  if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
}

run_tests() {
  mpi_env
  ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$(nproc)" --timeout 900
}

# The demo's stages: DIR.stamp holds the recipe that made DIR (or is making it: pretraining and
# fine-tuning resume where they stopped, so they are stamped when they start).
stage_made_by() { [ -d "$1" ] && [ -f "$1.stamp" ] && [ "$(cat "$1.stamp")" = "$2" ]; }
clear_stage() { rm -rf "$1" "$1.stamp"; mkdir -p "$1"; }
stamp_stage() { printf '%s' "$2" >"$1.stamp"; }
# A config's settings without its comments and blank lines: editing a comment redoes nothing.
recipe() { grep -v -E '^[[:space:]]*([#;]|$)' "$1"; }

demo() {
  local deeplab=$BUILD_DIR/bin/deeplab out=$BUILD_DIR/demo
  local examples=../shared/data/crf-examples
  local mpirun=(mpirun --oversubscribe --bind-to none -np 2)
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  mkdir -p "$out"
  log "demo: the paper's recipe in miniature on 2 MPI ranks: pretrain a VGG-16 on garment photographs (the"
  log "ImageNet step), convert it to LargeFOV, fine-tune on the scenes, segment val with and without the"
  log "fully connected CRF, evaluate both. Outputs: $out. A rerun reuses the stages that are done."
  # Each stage's folder is reused only when what made it is unchanged: a stamp beside it holds
  # its recipe (arguments and configs), and a stage whose stamp differs starts afresh.
  local scenes_args=(--train 8000 --val 100 --voc-layout)
  local stamp_scenes stamp_vgg stamp_ft
  stamp_scenes="make-scenes ${scenes_args[*]}"
  stamp_vgg="$(recipe configs/pretrain-garments.ini)"
  stamp_ft="$stamp_scenes $stamp_vgg $(recipe configs/scenes-finetune.ini)"
  if stage_made_by "$out/scenes" "$stamp_scenes"; then
    log "scenes: made before ($out/scenes)"
  else
    log "making the scenes: 8000 train, 100 val (about 20 s)"
    clear_stage "$out/scenes"
    "$deeplab" make-scenes --out "$out/scenes" "${scenes_args[@]}"
    stamp_stage "$out/scenes" "$stamp_scenes"
  fi
  stage_made_by "$out/vgg" "$stamp_vgg" || { clear_stage "$out/vgg"; stamp_stage "$out/vgg" "$stamp_vgg"; }
  if [ -s "$out/vgg/accuracy.json" ]; then
    log "pretraining: done before ($out/vgg/final.h5)"
  else
    log "pretraining configs/pretrain-garments.ini on 2 ranks (about 4 minutes); its photographs: $out/vgg/examples.png"
    "${mpirun[@]}" "$deeplab" pretrain --config configs/pretrain-garments.ini --out "$out/vgg" --resume auto
  fi
  stage_made_by "$out/finetune" "$stamp_ft" || { clear_stage "$out/finetune"; stamp_stage "$out/finetune" "$stamp_ft"; }
  if [ -s "$out/finetune/final.h5" ]; then
    log "fine-tuning: done before ($out/finetune/final.h5)"
  else
    log "fine-tuning configs/scenes-finetune.ini from it on 2 ranks, about 3 minutes (--init converts fc6/fc7 by the paper's rule)"
    "${mpirun[@]}" "$deeplab" train --config configs/scenes-finetune.ini --init "$out/vgg/final.h5" \
      --data "$out/scenes/train.h5" --out "$out/finetune" --resume auto
  fi
  log "loss curves: $out/vgg/loss.png (pretraining), $out/finetune/loss.png (fine-tuning)"
  local mode
  for mode in net crf; do
    local flags=() title="network alone"
    [ "$mode" = crf ] && flags=(--crf --config configs/crf-scenes.ini) title="network + CRF"
    log "segmenting val: $title"
    "${mpirun[@]}" "$deeplab" segment --model "$out/finetune/final.h5" --data "$out/scenes/val.h5" \
      --out "$out/val-$mode.h5" --png "$out/png-$mode" --overlays --overwrite "${flags[@]}"
    "${mpirun[@]}" "$deeplab" evaluate --pred "$out/val-$mode.h5" --data "$out/scenes/val.h5" \
      --json "$out/val-$mode.json" --confusion-png "$out/val-$mode-confusion.png" >"$out/val-$mode.txt"
  done
  echo; echo "IoU per class on val, network + CRF ($out/val-crf.txt):"; cat "$out/val-crf.txt"
  /usr/bin/python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
top1 = json.load(open(out + "/vgg/accuracy.json"))
print("\nPretraining: top-1 %.2f%% on %d test garments (VGG-16 classifier, width 0.125, 96 px)" % (100 * top1["top1"], top1["images"]))
print("\nDeepLab-LargeFOV (width 0.125) on the built-in scenes, val (100 images), mean IoU / pixel accuracy:")
print("%-34s %16s %16s" % ("", "network alone", "network + CRF"))
# From scratch: configs/scenes-finetune.ini without --init (the same network, schedule and
# time), measured once (README, "The paper's table in miniature").
print("%-34s %16s %16s" % ("from scratch (README)", "34.2% / 85.7%", "38.0% / 87.6%"))
row = []
for mode in ("net", "crf"):
    e = json.load(open("%s/val-%s.json" % (out, mode)))
    row.append("%.1f%% / %.1f%%" % (100 * e["mean_iou"], 100 * e["pixel_accuracy"]))
print("%-34s %16s %16s" % ("pretrained (this run)", row[0], row[1]))
PY
  log "per-class tables: $out/val-net.txt, $out/val-crf.txt; confusion matrices: $out/val-*-confusion.png"
  log "overlays (image | prediction | truth): $out/png-net/*_overlay.png and $out/png-crf/*_overlay.png"
  # The real job: photographs nobody labelled. The val scenes, as JPEG files in a folder like
  # VOC's test set, packed without labels and segmented into what PASCAL's server takes.
  log "a folder of unlabelled JPEG photographs (the val scenes as files): pack, segment with the CRF, export"
  sed 's|.*|JPEGImages/&.jpg|' "$out/scenes/voc/ImageSets/Segmentation/val.txt" >"$out/scenes/voc/val-photos.txt"
  "${mpirun[@]}" "$deeplab" pack --images "$out/scenes/voc/val-photos.txt" --out "$out/photos.h5" --overwrite
  rm -rf "$out/photos"
  "${mpirun[@]}" "$deeplab" segment --model "$out/finetune/final.h5" --data "$out/photos.h5" --out "$out/photos-crf.h5" \
    --crf --config configs/crf-scenes.ini --png "$out/photos" --png-layout voc-server --overwrite
  log "masks in the evaluation server's layout: $out/photos/results/VOC2012/Segmentation/comp6_test_cls/"
  if [ -f "$examples/im1.png" ]; then
    # A coarse class map (as a stride-8 network gives) sharpened along a photograph's edges.
    "$deeplab" crf --config configs/crf-largefov.ini --image "$examples/im1.png" --palette voc \
      --probs "$examples/im1_coarse_prob_240x320x21.npy" --layout hwc --out "$out/im1-crf.png"
    log "the CRF on a photograph: $out/im1-crf.png"
  fi
}

bench() {
  install_packages "${BENCH_PACKAGES[@]}"
  bash tests/bench/side_by_side.sh "$BUILD_DIR/bin/deeplab"
  log "fully connected CRF, 500x375, 21 labels, 10 iterations, on 1 and on all cores:"
  "$BUILD_DIR/bin/deeplab" bench crf --threads 1
  "$BUILD_DIR/bin/deeplab" bench crf
  log "the CRF on one photograph: the whole process, its first CRF run, and warm:"
  bash tests/bench/crf_cold.sh "$BUILD_DIR/bin/deeplab" ../shared/data/crf-examples
  log "bf16 against f32: forward time, and the demo's val labels (after ./run.sh demo):"
  bash tests/bench/bf16.sh "$BUILD_DIR/bin/deeplab" "$BUILD_DIR/demo/finetune/final.h5" "$BUILD_DIR/demo/scenes/val.h5"
  log "segmentation throughput, with and without the CRF, 1 and 2 ranks:"
  bash tests/bench/segment_speed.sh "$BUILD_DIR/bin/deeplab" "$BUILD_DIR/bin/make_test_files"
  log "CRF sweep throughput, 1 and 2 ranks:"
  bash tests/bench/sweep_speed.sh "$BUILD_DIR/bin/deeplab" "$BUILD_DIR/bin/make_test_files"
  log "start-up, and pack throughput on VOC-sized JPEGs, 1 and 2 ranks:"
  bash tests/bench/pack_speed.sh "$BUILD_DIR/bin/deeplab" ../shared/data/crf-examples
  log "GPU: network, training and CRF against the paper's figures (skipped without a GPU):"
  bash tests/bench/gpu.sh "$BUILD_DIR/bin/deeplab" || [ $? -eq 77 ]
  log "operator micro-benchmarks (Google Benchmark):"
  "$BUILD_DIR/bin/bench_ops"
}

# Fuzzing: a separate clang build with AddressSanitizer and libFuzzer; each target runs for
# SECONDS (default 300), both side by side, from seeds made here. Fork mode goes on after a crash
# and keeps each crashing input (build-fuzz/findings/crash-*), so one run reports all it finds;
# the stack trace in build-fuzz/TARGET.log says whose code each is in.
fuzz() {
  install_packages "${FUZZ_PACKAGES[@]}"
  local seconds=${1:-300} dir=build-fuzz target seeds
  CC=clang CXX=clang++ cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDEEPLAB_CUDA=OFF -DDEEPLAB_FUZZ=ON \
    -DDEEPLAB_NATIVE=OFF -DCMAKE_CXX_FLAGS="-fsanitize=address,fuzzer-no-link" -DCMAKE_C_FLAGS="-fsanitize=address" >/dev/null
  local targets=(fuzz_dataset_reader fuzz_label_png fuzz_image_decode)
  cmake --build "$dir" -j "$JOBS" --target "${targets[@]}" deeplab_cli
  rm -rf "$dir/seeds" "$dir/findings"
  mkdir -p "$dir/seeds/fuzz_dataset_reader" "$dir/seeds/fuzz_label_png" "$dir/seeds/fuzz_image_decode" "$dir/findings"
  ASAN_OPTIONS=detect_leaks=0 "$dir/bin/deeplab" make-scenes --out "$dir/seeds/scenes" --train 2 --val 1 --size 32 \
    --voc-layout >/dev/null 2>&1
  cp "$dir/seeds/scenes/val.h5" "$dir/seeds/fuzz_dataset_reader/"
  cp "$dir"/seeds/scenes/voc/SegmentationClass/*.png "$dir/seeds/fuzz_label_png/"
  # Every format the decoders open, small: JPEG (colour, grey, progressive), PNG, PPM, PGM, BMP.
  /usr/bin/python3 - "$dir/seeds/scenes/voc/JPEGImages/train_0.jpg" "$dir/seeds/fuzz_image_decode" <<'PY'
import sys
from PIL import Image
im, out = Image.open(sys.argv[1]).convert("RGB").resize((12, 9)), sys.argv[2]
im.save(out + "/a.jpg"); im.convert("L").save(out + "/g.jpg"); im.save(out + "/p.jpg", progressive=True)
im.save(out + "/a.png"); im.convert("P").save(out + "/i.png"); im.save(out + "/a.ppm"); im.convert("L").save(out + "/a.pgm")
im.save(out + "/a.bmp"); im.convert("P").save(out + "/i.bmp")
PY
  log "fuzzing the dataset reader, the label PNG reader and the image decoders, $seconds s each, side by side"
  for target in "${targets[@]}"; do
    seeds=$PWD/$dir/seeds/$target
    (cd "$dir/findings" && ASAN_OPTIONS=detect_leaks=0 "../bin/$target" -fork=1 -ignore_crashes=1 -ignore_ooms=1 \
       -ignore_timeouts=1 -max_total_time="$seconds" -max_len=65536 "$seeds" >"../$target.log" 2>&1) &
  done
  wait
  for target in "${targets[@]}"; do
    log "$target: $(grep -c 'ERROR: AddressSanitizer\|deadly signal' "$dir/$target.log") crashes; last status:"
    grep -E '^#[0-9]+' "$dir/$target.log" | tail -n 1
  done
  log "crashing inputs kept in $dir/findings: $(find "$dir/findings" -name 'crash-*' | wc -l)"
}

case "${1:-}" in
  setup) setup ;;
  build) setup; build ;;
  test) setup; build; run_tests ;;
  demo) setup; build; demo ;;
  bench) setup; build; bench ;;
  fuzz) setup; fuzz "${2:-300}" ;;
  *) echo "usage: ./run.sh setup|build|test|demo|bench|fuzz [SECONDS]" >&2; exit 2 ;;
esac
