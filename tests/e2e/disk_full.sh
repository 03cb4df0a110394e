#!/usr/bin/env bash
# A full disk, and a read-only one. The outputs go to a small tmpfs, mounted in a private mount namespace so that it
# goes away with the test whatever happens. make-scenes, convert-voc and segment (while writing
# pieces, and while assembling them) must exit 1 naming the file and "no space left on device",
# leave no temporary behind, and segment --resume must finish once there is room, with the bytes
# of a run that never ran short; a temporary left by a killed writer is removed then.
# usage: disk_full.sh DEEPLAB MAKE_TEST_FILES
set -u
if [ "${DISK_FULL_NAMESPACE:-}" != 1 ]; then
  unshare --mount --propagation private env DISK_FULL_NAMESPACE=1 bash "$0" "$@"
  status=$?
  [ $status -eq 0 ] || [ $status -eq 1 ] || echo "FAIL could not run in a private mount namespace (unshare: exit $status)"
  exit $status
fi
bin=$1
tool=$2
source "$(dirname "$0")/lib.sh"
work=$(mktemp -d)
full=$work/full
trap 'umount "$full" "$work/ro" 2>/dev/null; rm -rf "$work"' EXIT
export OMP_NUM_THREADS=1
mkdir "$full"
room() { umount "$full" 2>/dev/null; mount -t tmpfs -o size="$1" tmpfs "$full" || { fail "mount a $1 tmpfs"; finish; exit; }; }
nothing_temporary() {  # NAME: no *.tmp.* anywhere on the small disk
  local left
  left=$(find "$full" -name '*.tmp.*' | tr '\n' ' ')
  [ -z "$left" ] && pass "$1: no temporary left" || fail "$1: left $left"
}

"$bin" make-scenes --out "$work/scenes" --train 60 --val 40 --size 64 --voc-layout >/dev/null 2>&1 ||
  { fail "make-scenes"; finish; exit; }
"$tool" model "$work/m.h5" largefov 11 0.125

room 200k
expect "make-scenes on a full disk" 1 "train.h5.*: no space left on device" -- \
  "$bin" make-scenes --out "$full/s" --train 40 --val 10 --size 64
nothing_temporary "make-scenes"

room 300k
voc=$work/scenes/voc
expect "convert-voc on a full disk" 1 "c.h5.*cannot write .*: no space left on device" -- \
  "$bin" convert-voc --voc-root "$voc" --list "$voc/ImageSets/Segmentation/train.txt" --out "$full/c.h5" --num-classes 11
nothing_temporary "convert-voc"

segment=(--model "$work/m.h5" --data "$work/scenes/val.h5" --save-probs --piece-images 8)
"$bin" segment "${segment[@]}" --out "$work/reference.h5" >/dev/null 2>&1 || fail "segment with room"
room 100k
expect "segment on a disk that fills while writing pieces" 1 "piece-.*: no space left on device" -- \
  "$bin" segment "${segment[@]}" --out "$full/p.h5"
nothing_temporary "segment, pieces"
room 140k
expect "segment on a disk too small to assemble the pieces" 1 "p.h5: no space left on device to assemble it" -- \
  "$bin" segment "${segment[@]}" --out "$full/p.h5"
nothing_temporary "segment, assembly"
[ -d "$full/p.h5.parts" ] && pass "the pieces are kept for --resume" || fail "the pieces are gone"
mount -o remount,size=4m "$full"
touch "$full/p.h5.tmp.999999"  # as if a writer had been killed with -9
expect "segment --resume once there is room" 0 "40 images \(0 computed, 40 from an interrupted run\)" -- \
  "$bin" segment "${segment[@]}" --out "$full/p.h5" --resume
cmp -s "$full/p.h5" "$work/reference.h5" && pass "the resumed output has the bytes of a run with room" ||
  fail "the resumed output differs from a run with room"
nothing_temporary "segment --resume"

# A read-only disk: the path and the system's reason, exit 1 (not "internal error", exit 3).
mkdir -p "$work/ro" && mount -t tmpfs -o ro tmpfs "$work/ro" || fail "mount a read-only tmpfs"
expect "segment to a read-only disk" 1 "ro/p.h5.lock: cannot create the lock file .*Read-only file system" -- \
  "$bin" segment "${segment[@]}" --out "$work/ro/p.h5"
expect "make-scenes to a read-only disk" 1 "ro/s/train.h5: cannot write in .*ro \(Read-only file system\)" -- \
  "$bin" make-scenes --out "$work/ro/s" --train 2 --val 1 --size 64
printf '[crf]\nbi_w = 3\n' >"$work/grid.ini"
expect "crf-sweep to a read-only disk" 1 "ro/sweep.lock: cannot create the lock file .*Read-only file system" -- \
  "$bin" crf-sweep --probs "$work/reference.h5" --data "$work/scenes/val.h5" --grid "$work/grid.ini" --out "$work/ro/sweep"
umount "$work/ro"
finish
