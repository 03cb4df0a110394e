#!/usr/bin/env bash
# deeplab train end to end: the same parameters however the global batch is split (1 rank x 4,
# 2 MPI ranks x 2, 1 rank x 2 x iter_size 2); kill -9 then --resume auto gives bitwise the same
# model; SIGTERM to one rank stops every rank after a checkpoint; SIGUSR1 checkpoints and goes on;
# a damaged newest checkpoint is skipped; a non-finite loss stops with the iteration named.
# usage: train.sh DEEPLAB MAKE_TEST_FILES
set -u
bin=$1
tool=$2
source "$(dirname "$0")/lib.sh"
scratch work
export OMP_NUM_THREADS=1

"$bin" make-scenes --out "$work/scenes" --train 24 --val 4 --size 64 >/dev/null 2>&1 || { fail "make-scenes"; finish; exit; }
# Options are given once each (repeating one is an error), so the lists below differ in what varies.
setup=(--data "$work/scenes/train.h5" --model.num_classes 11 --model.width 0.125 --data.crop_size 49
       --solver.loss_normalization per-pixel --solver.display 1 --data.loader_threads 1)
common=("${setup[@]}" --solver.base_lr 0.001)
same() {  # NAME A B RTOL
  local out
  if out=$("$tool" compare-models "$2" "$3" "$4" 2>&1); then pass "$1 ($out)"; else fail "$1: $out"; fi
}

# 1. The global batch of 4, split three ways; dropout on (its masks are keyed by image).
expect "1 rank, batch 4" 0 "finished 5 iterations" -- "$bin" train "${common[@]}" --solver.batch 4 --solver.max_iter 5 --out "$work/b4"
expect "2 ranks, batch 2" 0 "replicas identical on 2 rank" -- $mpirun 2 "$bin" train "${common[@]}" --solver.batch 2 --solver.max_iter 5 --out "$work/r2"
expect "1 rank, batch 2 x iter_size 2" 0 "global batch 4" -- "$bin" train "${common[@]}" --solver.batch 2 --solver.iter_size 2 --solver.max_iter 5 --out "$work/i2"
same "2 ranks x 2 equals 1 rank x 4" "$work/b4/final.h5" "$work/r2/final.h5" 1e-5
same "iter_size 2 equals batch 4" "$work/b4/final.h5" "$work/i2/final.h5" 1e-5
for f in train_log.csv loss.png checkpoint-0000005.h5; do
  [ -s "$work/r2/$f" ] && pass "2-rank run wrote $f" || fail "2-rank run did not write $f"
done
iterations=$(tail -n +2 "$work/r2/train_log.csv" | cut -d, -f1 | tr '\n' ' ')
[ "$iterations" = "1 2 3 4 5 " ] && pass "one log row per iteration, 1 to 5" || fail "log rows for iterations: $iterations"

# 2. kill -9 once checkpoint 6 exists, then --resume auto: bitwise the model of a straight run.
base=("${common[@]}" --solver.batch 2)
long=("${base[@]}" --solver.max_iter 40 --solver.snapshot 2)
unsnapped=("${base[@]}" --solver.max_iter 40 --solver.snapshot 0)
"$bin" train "${long[@]}" --out "$work/straight" >/dev/null 2>&1 || fail "straight run"
"$bin" train "${long[@]}" --out "$work/killed" >"$work/killed.log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do [ -e "$work/killed/checkpoint-0000006.h5" ] && break; sleep 0.01; done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
if [ -e "$work/killed/final.h5" ]; then fail "kill -9: the run finished before it was killed"; else pass "killed with kill -9 after checkpoint 6"; fi
expect "resume auto after kill -9" 0 "resuming from .*checkpoint-00000[0-9][0-9].h5 at iteration ([6-9]|[1-3][0-9])" -- \
  "$bin" train "${long[@]}" --out "$work/killed" --resume auto
same "kill -9 and resume: bitwise identical" "$work/straight/final.h5" "$work/killed/final.h5" 0
/usr/bin/python3 - "$work/killed/train_log.csv" <<'PY' && pass "the log's seconds go on across the resume" || fail "the log's seconds restart at the resume"
import csv, sys
s = [float(r["seconds"]) for r in csv.DictReader(open(sys.argv[1]))]
assert len(s) == 40 and all(b >= a for a, b in zip(s, s[1:])), s
PY
rows=$(cut -d, -f1 "$work/killed/train_log.csv" | tail -n +2 | sort -n | uniq -d | wc -l)
[ "$rows" -eq 0 ] && pass "resumed log has each iteration once" || fail "resumed log repeats $rows iterations"

# 3. A damaged newest checkpoint is skipped with a warning; the one before it is used.
"$bin" train "${base[@]}" --solver.snapshot 2 --solver.max_iter 8 --out "$work/damaged" >/dev/null 2>&1
head -c 3000 "$work/damaged/checkpoint-0000008.h5" > "$work/cut" && mv "$work/cut" "$work/damaged/checkpoint-0000008.h5"
expect "damaged checkpoint skipped" 0 "skipping unreadable checkpoint.*checkpoint-0000008.h5" -- \
  "$bin" train "${long[@]}" --out "$work/damaged" --resume auto
same "resumed past a damaged checkpoint: bitwise identical" "$work/straight/final.h5" "$work/damaged/final.h5" 0

# 4. SIGTERM to one of two ranks: both stop after the same checkpoint, exit 143; resume matches.
$mpirun 2 "$bin" train "${long[@]}" --out "$work/r2straight" >/dev/null 2>&1 || fail "2-rank straight run"
$mpirun 2 "$bin" train "${unsnapped[@]}" --out "$work/term" >"$work/term.log" 2>&1 &
mpid=$!
for _ in $(seq 1 600); do grep -q "iteration 3/40" "$work/term.log" 2>/dev/null && break; sleep 0.01; done
rank1=$(pgrep -P $mpid -f "^$bin train" | tail -1)  # a rank, not its janitor (a child of the rank)
kill -TERM "$rank1" 2>/dev/null
wait $mpid
status=$?
[ $status -eq 143 ] && pass "SIGTERM: job exits 143 (128 + SIGTERM)" || fail "SIGTERM: job exited $status, README promises 143"
grep -q "stopped by SIGTERM after iteration" "$work/term.log" && pass "SIGTERM: stop logged" || { fail "SIGTERM: no stop line"; tail -5 "$work/term.log"; }
[ -n "$(ls "$work/term"/checkpoint-*.h5 2>/dev/null)" ] && pass "SIGTERM: checkpoint written" || fail "SIGTERM: no checkpoint"
[ ! -e "$work/term/final.h5" ] && pass "SIGTERM: no final.h5" || fail "SIGTERM: final.h5 written"
expect "2 ranks resume after SIGTERM" 0 "finished 40 iterations" -- $mpirun 2 "$bin" train "${unsnapped[@]}" --out "$work/term" --resume auto
same "SIGTERM and resume on 2 ranks: bitwise identical" "$work/r2straight/final.h5" "$work/term/final.h5" 0

# 5. SIGUSR1: a checkpoint now, training goes on to the end. Several signals at different points
# of an iteration: a handler running on a compute thread once corrupted the heap (1 in ~10).
"$bin" train "${unsnapped[@]}" --out "$work/usr1" >"$work/usr1.log" 2>&1 &
pid=$!
for at in 3 9 15 21 27; do
  for _ in $(seq 1 600); do grep -q "iteration $at/40" "$work/usr1.log" 2>/dev/null && break; sleep 0.01; done
  kill -USR1 $pid 2>/dev/null
done
wait $pid && pass "SIGUSR1 x5: run finished" || { fail "SIGUSR1 x5: run failed"; tail -3 "$work/usr1.log"; }
# With snapshot 0 the only checkpoint due is the last one (40): each signal must have added one.
taken=$(grep -cE "checkpoint .*checkpoint-00000([0-3][0-9]|0[0-9])\.h5" "$work/usr1.log")
[ "$taken" -eq 5 ] && pass "SIGUSR1: a checkpoint for each of the 5 signals" || fail "SIGUSR1: $taken checkpoints before the end for 5 signals"
grep -q "finished 40 iterations" "$work/usr1.log" && pass "SIGUSR1: training went on to the end" || fail "SIGUSR1: did not finish"

# 6. Resume with another global batch, a diverging run, bad options: clear errors.
expect "resume with another global batch" 1 "global batch of 2.*has 4" -- \
  "$bin" train "${common[@]}" --solver.batch 4 --solver.max_iter 40 --out "$work/straight" --resume auto
expect "non-finite loss names the iteration" 1 "iteration [0-9]+: the (loss|gradient).*not finite|iteration [0-9]+: the loss is" -- \
  "$bin" train "${setup[@]}" --solver.base_lr 1e6 --solver.batch 2 --solver.max_iter 40 --out "$work/nan"
[ ! -e "$work/nan/final.h5" ] && pass "diverged run wrote no final.h5" || fail "diverged run wrote final.h5"
expect "too few images" 1 "fewer than one global batch" -- "$bin" train "${common[@]}" --solver.batch 30 --out "$work/few"
expect "a fresh run into a folder holding checkpoints" 1 "straight: holds the checkpoints of an earlier run; pass --resume auto" -- \
  "$bin" train "${long[@]}" --out "$work/straight"
expect "resume with another momentum" 1 "straight/settings: the interrupted run used other settings" -- \
  "$bin" train "${long[@]}" --solver.momentum 0.8 --out "$work/straight" --resume auto
expect "resume with more iterations" 0 "resuming from .*checkpoint-0000040.h5.*|finished 44 iterations" -- \
  "$bin" train "${base[@]}" --solver.max_iter 44 --solver.snapshot 2 --out "$work/straight" --resume auto
# The checkpoints of another network in the folder: resume auto refuses (it had taken them for
# damaged, started afresh and pruned both runs' checkpoints), and leaves them be.
other=(--data "$work/scenes/train.h5" --model.num_classes 12 --model.width 0.125 --data.crop_size 49
       --solver.loss_normalization per-pixel --solver.display 1 --data.loader_threads 1 --solver.base_lr 0.001
       --solver.batch 2 --solver.max_iter 40 --solver.snapshot 2)
before=$(ls "$work/straight" | tr '\n' ' ')
expect "resume auto among another network's checkpoints" 1 "checkpoint-0000044.h5: holds a largefov with 11 classes .* asks for a largefov with 12 classes" -- \
  "$bin" train "${other[@]}" --out "$work/straight" --resume auto
[ "$(ls "$work/straight" | tr '\n' ' ')" = "$before" ] && pass "the other run's checkpoints are left be" || fail "the folder changed: $(ls "$work/straight")"
# A checkpoint from before momentum had a checksum cannot be told damaged; one from now can.
cp "$work/straight/checkpoint-0000044.h5" "$work/flip.h5"
/usr/bin/python3 -c 'import sys, h5py; f = h5py.File(sys.argv[1], "r+"); d = f["solver/momentum/conv3_1/weight"]; d[0, 0, 0, 0] = d[0, 0, 0, 0] + 1' "$work/flip.h5"
expect "a damaged momentum is refused" 1 "flip.h5: entry 'solver/momentum/conv3_1/weight' fails its checksum" -- \
  "$bin" train "${base[@]}" --solver.max_iter 46 --out "$work/flipped" --resume "$work/flip.h5"
expect "--resume CHECKPOINT into a folder of other settings" 1 "straight/settings: the interrupted run used other settings" -- \
  "$bin" train "${base[@]}" --solver.max_iter 46 --solver.momentum 0.8 --out "$work/straight" --resume "$work/straight/checkpoint-0000044.h5"
expect "a missing --init" 1 "none.h5: no such file" -- "$bin" train "${long[@]}" --init "$work/none.h5" --out "$work/noinit"
[ ! -e "$work/noinit" ] && pass "a missing --init leaves no folder" || fail "a missing --init left $(ls "$work/noinit")"
# The data by what it holds: the same scenes written again resume; other scenes at the same path do not.
cp "$work/scenes/train.h5" "$work/data2.h5"
setup2=(--data "$work/data2.h5" --model.num_classes 11 --model.width 0.125 --data.crop_size 49 --solver.batch 2
        --solver.display 1 --data.loader_threads 1 --solver.snapshot 2)
"$bin" train "${setup2[@]}" --solver.max_iter 2 --out "$work/d2" >/dev/null 2>&1 || fail "train on data2.h5"
cp "$work/scenes/train.h5" "$work/copy.h5" && mv "$work/copy.h5" "$work/data2.h5"
expect "resume on the same scenes written again" 0 "finished 4 iterations" -- \
  "$bin" train "${setup2[@]}" --solver.max_iter 4 --out "$work/d2" --resume auto
"$bin" make-scenes --out "$work/others" --train 24 --val 1 --size 64 --seed 9 >/dev/null 2>&1
cp "$work/others/train.h5" "$work/data2.h5"
expect "resume on other scenes at the same path" 1 "d2/settings: the interrupted run used other settings" -- \
  "$bin" train "${setup2[@]}" --solver.max_iter 6 --out "$work/d2" --resume auto
flock "$work/locked.lock" sleep 30 &
holder=$!
sleep 0.3
expect "a second run into a folder being written" 1 "locked: another run is writing it now" -- \
  "$bin" train "${long[@]}" --out "$work/locked"
kill $holder 2>/dev/null
expect "unknown option" 2 "unrecognised option .--solver.bogus" -- "$bin" train "${common[@]}" --solver.bogus 1 --out "$work/x"
finish
