#!/usr/bin/env bash
# The whole method as a chain of Slurm jobs, each starting when the one before it succeeded:
#   convert -> train -> segment (network + CRF, probabilities kept) -> evaluate
#                                                                  \-> crf-sweep
# Prints each job's id. With --wait it follows them to the end, prints each one's state and exit
# code, and exits non-zero naming the job that failed; the jobs that depended on it are
# cancelled by Slurm (--kill-on-invalid-dep), not left pending.
#
# usage: pipeline.sh --work DIR --config TRAIN.ini [options]
#   data (default: the built-in scenes):
#     --scenes "ARGS"          make-scenes arguments (default "--train 400 --val 100")
#     --voc-root DIR --train-list FILE --val-list FILE [--label-dir SegmentationClassAug]
#   method:
#     --init M.h5              initial weights for training (deeplab import --from-vgg16 ...)
#     --crf-config FILE        [crf] parameters for segment (default: configs/crf-largefov.ini)
#     --grid FILE              the sweep's grid (default: configs/crf-grid.ini)
#     --sweep-images N         images the sweep scores (default 100)
#   resources, for every job:
#     --ntasks N (default 2)   MPI ranks; --nodes N; --gpus-per-task G (train and segment; CPU if unset)
#     --time T; --partition P; --account A
#   --wait                     follow the jobs to the end and report
# Environment: DEEPLAB (the program; default: deeplab on PATH), SBATCH_EXTRA (more sbatch options).
# Outputs under DIR: data/, train/ (checkpoints, final.h5, loss.png), val-pred.h5, eval.json,
# confusion.png, sweep/ (results.csv, best.ini, heatmap.png), logs/ (one file per job).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
work="" config="" scenes="--train 400 --val 100" voc_root="" train_list="" val_list="" label_dir=""
init="" crf_config="$repo/configs/crf-largefov.ini" grid="$repo/configs/crf-grid.ini" sweep_images=100
ntasks=2 nodes="" gpus="" time_limit="" partition="" account="" wait=0
while [ $# -gt 0 ]; do
  case "$1" in
    --wait|-h|--help) ;;
    *) [ $# -ge 2 ] || { echo "pipeline.sh: $1 needs a value (--help lists the options)" >&2; exit 2; } ;;
  esac
  case "$1" in
    --work) work=$2; shift ;;
    --config) config=$2; shift ;;
    --scenes) scenes=$2; shift ;;
    --voc-root) voc_root=$2; shift ;;
    --train-list) train_list=$2; shift ;;
    --val-list) val_list=$2; shift ;;
    --label-dir) label_dir=$2; shift ;;
    --init) init=$2; shift ;;
    --crf-config) crf_config=$2; shift ;;
    --grid) grid=$2; shift ;;
    --sweep-images) sweep_images=$2; shift ;;
    --ntasks) ntasks=$2; shift ;;
    --nodes) nodes=$2; shift ;;
    --gpus-per-task) gpus=$2; shift ;;
    --time) time_limit=$2; shift ;;
    --partition) partition=$2; shift ;;
    --account) account=$2; shift ;;
    --wait) wait=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "pipeline.sh: unknown option '$1' (--help lists them)" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$work" ] && [ -n "$config" ] || { echo "pipeline.sh: --work and --config are required (--help)" >&2; exit 2; }
[ -f "$config" ] || { echo "pipeline.sh: $config: no such config" >&2; exit 2; }
for given in "--init:$init" "--crf-config:$crf_config" "--grid:$grid" "--train-list:$train_list" "--val-list:$val_list"; do
  path=${given#*:}
  [ -z "$path" ] || [ -f "$path" ] || { echo "pipeline.sh: ${given%%:*} $path: no such file" >&2; exit 2; }
done
mkdir -p "$work/logs"
work=$(cd "$work" && pwd)
abs() { [ -z "$1" ] || echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; }
config=$(abs "$config") crf_config=$(abs "$crf_config") grid=$(abs "$grid")
[ -z "$init" ] || init=$(abs "$init")

common=(--parsable --kill-on-invalid-dep=yes --output="$work/logs/%x-%j.out" --ntasks="$ntasks")
[ -z "$nodes" ] || common+=(--nodes="$nodes")
[ -z "$time_limit" ] || common+=(--time="$time_limit")
[ -z "$partition" ] || common+=(--partition="$partition")
[ -z "$account" ] || common+=(--account="$account")
# shellcheck disable=SC2206
[ -z "${SBATCH_EXTRA:-}" ] || common+=(${SBATCH_EXTRA})
gpu=()
[ -z "$gpus" ] || gpu=(--gpus-per-task="$gpus")
names=() ids=()
job_options=()  # sbatch options for the next submit only (the GPUs of train and segment)
submit() {  # NAME AFTER SCRIPT ARGS...: prints nothing, records the job id
  local name=$1 after=$2 script=$3
  shift 3
  local dep=()
  [ -z "$after" ] || dep=(--dependency="afterok:$after")
  local id
  id=$(sbatch "${common[@]}" "${dep[@]}" "${job_options[@]}" --job-name="deeplab-$name" "$script" "$@")
  job_options=()
  id=${id%%;*}
  names+=("$name") ids+=("$id")
  printf '%-10s %s\n' "$name" "$id"
}

if [ -n "$voc_root" ]; then
  [ -n "$train_list" ] && [ -n "$val_list" ] || { echo "pipeline.sh: --voc-root needs --train-list and --val-list" >&2; exit 2; }
  extra=()
  [ -z "$label_dir" ] || extra=(--label-dir "$label_dir")
  # A rerun converts again (--overwrite): the same data, which the resumed jobs after it know by content.
  submit convert "" "$here/convert.sbatch" convert-voc --voc-root "$voc_root" --list "$train_list" --out "$work/data/train.h5" --overwrite "${extra[@]}"
  convert_train=${ids[-1]}
  submit convert "$convert_train" "$here/convert.sbatch" convert-voc --voc-root "$voc_root" --list "$val_list" --out "$work/data/val.h5" --overwrite
else
  # shellcheck disable=SC2086
  submit convert "" "$here/convert.sbatch" make-scenes --out "$work/data" $scenes
fi
convert=${ids[-1]}
train_args=(--config "$config" --data "$work/data/train.h5" --out "$work/train")
[ -z "$init" ] || train_args+=(--init "$init")
# The GPUs go to sbatch, before the script (after it they were arguments of deeplab train).
job_options=("${gpu[@]}")
submit train "$convert" "$here/train.sbatch" "${train_args[@]}"
train=${ids[-1]}
job_options=("${gpu[@]}")
submit segment "$train" "$here/segment.sbatch" --model "$work/train/final.h5" --data "$work/data/val.h5" \
  --out "$work/val-pred.h5" --crf --config "$crf_config" --save-probs --png "$work/png"
segment=${ids[-1]}
submit evaluate "$segment" "$here/evaluate.sbatch" --pred "$work/val-pred.h5" --data "$work/data/val.h5" \
  --json "$work/eval.json" --confusion-png "$work/confusion.png"
submit sweep "$segment" "$here/sweep.sbatch" --probs "$work/val-pred.h5" --data "$work/data/val.h5" \
  --grid "$grid" --out "$work/sweep" --images "$sweep_images"
[ "$wait" = 1 ] || exit 0

# Follow the jobs until none is queued or running, then report each one.
while squeue -h -j "$(IFS=,; echo "${ids[*]}")" 2>/dev/null | grep -q .; do sleep 1; done
failed=0
for i in "${!ids[@]}"; do
  info=$(scontrol show job "${ids[$i]}" 2>/dev/null || true)
  state=$(grep -oE 'JobState=[A-Z_]+' <<<"$info" | cut -d= -f2)
  code=$(grep -oE ' ExitCode=[0-9]+:[0-9]+' <<<"$info" | cut -d= -f2)
  reason=$(grep -oE 'Reason=[A-Za-z_]+' <<<"$info" | cut -d= -f2)
  if [ -z "$state" ] && command -v sacct >/dev/null; then  # the record has aged out: ask accounting
    read -r state code < <(sacct -n -X -P -j "${ids[$i]}" -o State,ExitCode 2>/dev/null | tr '|' ' ' | head -1) || true
  fi
  note=""
  if [ "$reason" = DependencyNeverSatisfied ]; then note="cancelled: a job it depends on failed"
  elif [ "$state" != COMPLETED ]; then note="reason ${reason:-?}; log $work/logs/deeplab-${names[$i]}-${ids[$i]}.out"; fi
  printf '%-10s %-8s %-12s exit %-6s %s\n' "${names[$i]}" "${ids[$i]}" "${state:-unknown}" "${code:-?}" "$note"
  if [ "$state" != COMPLETED ] || [ "$code" != 0:0 ]; then
    failed=1
    [ "$state" = CANCELLED ] || echo "pipeline.sh: job ${names[$i]} (${ids[$i]}) failed: $state, exit $code; see $work/logs/deeplab-${names[$i]}-${ids[$i]}.out" >&2
  fi
done
exit "$failed"
