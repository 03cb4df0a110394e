#!/usr/bin/env bash
# The Slurm scripts against a real single-node Slurm (cluster/local), started here and stopped by
# pid at the end, also when a check fails:
#   0. srun without an MPI plugin is refused (exit 2), naming --mpi=pmix;
#   1. pipeline.sh on the built-in scenes: every job COMPLETED with exit 0:0, every output there;
#      segment.sbatch as a job array; a folder of photographs packed and segmented;
#   2. a bad training config: train FAILED, its dependants CANCELLED (not pending), the pipeline
#      names the failed job and exits 1;
#   3. preemption: a training job requeued mid-run checkpoints on SIGTERM, comes back, resumes,
#      and ends with the parameters of an uninterrupted run, bit for bit.
# Skips (77) when not root; Slurm missing is a failure (run.sh installs it).
# usage: slurm.sh DEEPLAB MAKE_TEST_FILES REPO
set -u
export DEEPLAB=$1
tool=$2
repo=$3
source "$repo/tests/e2e/lib.sh"
[ "$(id -u)" = 0 ] || { echo "skipped: the local Slurm needs root"; exit 77; }
command -v sbatch >/dev/null || { fail "Slurm is not installed (./run.sh setup installs slurm-wlm)"; finish; exit 1; }
work=$(mktemp -d)
state=$work/slurm
trap 'bash "$repo/cluster/local/slurm-down.sh" "$state"; rm -rf "$work"' EXIT
bash "$repo/cluster/local/slurm-up.sh" "$state" 8 || { fail "slurm-up (exit $?)"; finish; exit 1; }
export SLURM_CONF=$state/slurm.conf
export OMP_NUM_THREADS=1
cd "$work"

# A quick version of the tiny recipe, and a small grid.
sed -e 's/^max_iter = .*/max_iter = 40/' -e 's/^display = .*/display = 10/' -e 's/^snapshot = .*/snapshot = 20/' \
  "$repo/configs/scenes-tiny.ini" > tiny.ini
printf '[crf]\nbi_w = 4,6\nbi_xy_std = 50,121\nbi_rgb_std = 5\niterations = 5\n' > grid.ini
pipeline=(bash "$repo/cluster/slurm/pipeline.sh" --scenes "--train 32 --val 8 --size 96" --grid grid.ini
          --sweep-images 8 --ntasks 2 --wait)

# 0. srun's tasks must form one MPI job: with no MPI plugin each would run the whole job alone.
expect "srun --mpi=none -n 2: refused, naming the fix" 2 "srun started 2 tasks without MPI.*--mpi=pmix" -- \
  timeout 120 srun --mpi=none -n 2 "$DEEPLAB" info --devices
expect "srun --mpi=pmix -n 2: one job" 0 "cpu" -- timeout 120 srun --mpi=pmix -n 2 "$DEEPLAB" info --devices

# 0b. What pipeline.sh asks sbatch for, with an sbatch that only records its arguments: GPUs go
#     to sbatch for train and segment (before the script, not to deeplab), and a missing file
#     or value is refused before anything is submitted.
mkdir -p stub && printf '#!/bin/sh\necho "$*" >>"%s/stub/calls"\necho 1\n' "$work" >stub/sbatch && chmod +x stub/sbatch
PATH="$work/stub:$PATH" bash "$repo/cluster/slurm/pipeline.sh" --work stubbed --config tiny.ini --gpus-per-task 1 >/dev/null 2>&1
[ "$(grep -cE -- '--gpus-per-task=1 --job-name=deeplab-(train|segment) [^ ]*\.sbatch' stub/calls)" = 2 ] &&
  ! grep -qE -- '\.sbatch .*--gpus-per-task' stub/calls && pass "pipeline.sh: GPUs to sbatch for train and segment" ||
  fail "pipeline.sh: GPUs misplaced: $(cat stub/calls)"
expect "pipeline.sh: a missing --init" 2 "--init .*none.h5: no such file" -- \
  env PATH="$work/stub:$PATH" bash "$repo/cluster/slurm/pipeline.sh" --work stubbed --config tiny.ini --init none.h5
expect "pipeline.sh: an option without its value" 2 "--config needs a value" -- bash "$repo/cluster/slurm/pipeline.sh" --work x --config

# 1. The whole pipeline.
out=$("${pipeline[@]}" --work good --config tiny.ini 2>&1)
status=$?
echo "$out" | sed 's/^/    /'
[ $status = 0 ] && pass "pipeline exits 0" || fail "pipeline exited $status"
[ "$(grep -cE '^(convert|train|segment|evaluate|sweep) +[0-9]+ +COMPLETED +exit 0:0' <<<"$out")" = 5 ] \
  && pass "all 5 jobs COMPLETED with exit 0:0" || fail "not every job COMPLETED 0:0"
for f in good/data/train.h5 good/train/final.h5 good/train/checkpoint-0000040.h5 good/train/loss.png good/val-pred.h5 \
         good/confusion.png good/sweep/results.csv good/sweep/best.ini good/sweep/heatmap.png; do
  [ -s "$f" ] && pass "output $f" || fail "missing $f"
done
/usr/bin/python3 -c "
import json; e = json.load(open('good/eval.json')); assert 0 <= e['mean_iou'] <= 1 and e['images'] == 8" \
  && pass "evaluation JSON" || fail "evaluation JSON"

# 1b. segment.sbatch as a job array over two data files.
cp good/data/val.h5 other.h5
printf '%s\n' "$work/good/data/val.h5" "$work/other.h5" > files.txt
array=$(DEEPLAB_DATA_LIST=files.txt DEEPLAB_OUT_DIR=preds sbatch --parsable --array=0-1 --ntasks=2 \
        --output=array-%A_%a.out "$repo/cluster/slurm/segment.sbatch" --model good/train/final.h5)
while squeue -h -j "$array" 2>/dev/null | grep -q .; do sleep 0.5; done
[ "$(scontrol show job "$array" | grep -c 'JobState=COMPLETED')" = 2 ] && [ -s preds/val-pred.h5 ] && [ -s preds/other-pred.h5 ] \
  && pass "segment.sbatch as a 2-task job array" || { fail "job array"; cat array-*.out | tail -5; }

# 1c. A collection of unlabelled photographs: packed on 2 tasks, segmented on 2 with the CRF,
#     masks in the PASCAL server layout.
"$DEEPLAB" make-scenes --out photos --train 1 --val 6 --size 64 --voc-layout >/dev/null 2>&1
pack=$(sbatch --parsable --ntasks=2 --output=pack-%j.out "$repo/cluster/slurm/convert.sbatch" pack \
       --images photos/voc/JPEGImages --out photos.h5)
while squeue -h -j "$pack" 2>/dev/null | grep -q .; do sleep 0.5; done
seg=$(sbatch --parsable --ntasks=2 --output=seg-%j.out "$repo/cluster/slurm/segment.sbatch" --model good/train/final.h5 \
      --data photos.h5 --out photos-pred.h5 --crf --png masks --png-layout voc-server)
while squeue -h -j "$seg" 2>/dev/null | grep -q .; do sleep 0.5; done
[ "$(ls masks/results/VOC2012/Segmentation/comp6_test_cls/*.png 2>/dev/null | wc -l)" = 7 ] \
  && grep -q "7 of 7 images packed, 0 labelled; .* 2 rank" pack-"$pack".out \
  && pass "convert.sbatch pack on 2 tasks, then segment.sbatch to server-layout masks" \
  || { fail "pack and segment of photographs"; tail -3 pack-*.out seg-*.out; }

# 2. A bad config: the failure is named, the dependants are cancelled.
printf '[solver]\nno_such_key = 1\n' > bad.ini
out=$("${pipeline[@]}" --work bad --config bad.ini 2>&1)
status=$?
echo "$out" | sed 's/^/    /'
[ $status = 1 ] && pass "failed pipeline exits 1" || fail "failed pipeline exited $status"
grep -qE '^train +[0-9]+ +FAILED' <<<"$out" && grep -q "job train (.*) failed" <<<"$out" \
  && pass "the failed job is named" || fail "the failed job is not named"
[ "$(grep -cE '^(segment|evaluate|sweep) +[0-9]+ +CANCELLED .*a job it depends on failed' <<<"$out")" = 3 ] \
  && pass "its 3 dependants were cancelled" || fail "dependants not cancelled"

# 3. Preemption: requeue a running training job; it checkpoints, comes back and resumes.
sed -e 's/^max_iter = .*/max_iter = 80/' -e 's/^snapshot = .*/snapshot = 0/' tiny.ini > long.ini
train=(--ntasks=2 "$repo/cluster/slurm/train.sbatch" --config long.ini --data good/data/train.h5)
wait_for() { while squeue -h -j "$1" 2>/dev/null | grep -q .; do sleep 0.5; done; }
# until SECONDS COMMAND...: poll every 0.1 s; false when time runs out.
until_true() { local end=$((SECONDS + $1)); shift; until "$@"; do [ $SECONDS -lt $end ] || return 1; sleep 0.1; done; }
# On a failed check, what the scheduler and the job said.
explain() {
  echo "    --- preempted job $preempted: log, state, scheduler log ---"
  sed 's/^/    /' "preempted-$preempted.out" 2>/dev/null | tail -25
  scontrol show job "$preempted" 2>&1 | grep -E 'JobState|Restarts|StartTime|Reason' | sed 's/^/    /'
  grep -E "JobId=$preempted[^0-9]" "$state/log/slurmctld.log" | tail -15 | sed 's/^/    /'
}
straight=$(sbatch --parsable --output=straight-%j.out "${train[@]}" --out straight)
preempted=$(sbatch --parsable --output=preempted-%j.out "${train[@]}" --out preempted)
# The job may wait for the scheduler before it starts; requeue it only once it is a third done.
if until_true 300 grep -q "iteration 20/80" "preempted-$preempted.out" 2>/dev/null; then
  pass "preempted job reached iteration 20"
  out=$(scontrol requeue "$preempted" 2>&1) && pass "scontrol requeue" || { fail "scontrol requeue: $out"; explain; }
  # A requeued job waits (BeginTime) before it may start again; let it start sooner. Not in the
  # second of the requeue: slurmd revoked the old run's credential with a time in seconds, and a
  # new one made in that same second counts as revoked ("Job credential revoked"; seen in CI).
  until_true 60 eval 'scontrol show job "$preempted" | grep -q "JobState=PENDING"' \
    || { fail "requeued job never pending"; explain; }
  until_true 60 grep -q "Exited with exit code" "preempted-$preempted.out" \
    || { fail "the first run did not end"; explain; }
  sleep 2
  scontrol update JobId="$preempted" StartTime=now
else
  fail "preempted job did not reach iteration 20 in 300 s"; explain
fi
wait_for "$straight"
wait_for "$preempted"
log=$(cat "preempted-$preempted.out")
grep -q "stopped by SIGTERM after iteration" <<<"$log" && pass "requeued job checkpointed on SIGTERM" \
  || { fail "no checkpoint on SIGTERM"; explain; }
grep -q "(start 2)" <<<"$log" && grep -qE "resuming from .*checkpoint-00000[0-9]{2}.h5" <<<"$log" \
  && pass "it came back and resumed" || { fail "no resume after the requeue"; explain; }
scontrol show job "$preempted" | grep -q "JobState=COMPLETED" && pass "preempted job COMPLETED" || fail "preempted job did not complete"
if out=$("$tool" compare-models straight/final.h5 preempted/final.h5 0 2>&1); then pass "preempted = uninterrupted: $out"
else fail "preempted and uninterrupted runs differ: $out"; fi
finish
