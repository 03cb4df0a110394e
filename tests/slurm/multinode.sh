#!/usr/bin/env bash
# The jobs on a 3-node Slurm (cluster/local/multinode-up.sh: network namespaces on this machine,
# TCP between the nodes), brought up here and always torn down at the end:
#   1. train as 3 ranks on 3 nodes, with srun --mpi=pmix and with mpirun inside the allocation:
#      the parameters of 3 ranks on one node bitwise, and of 1 rank x batch 3 to the rounding
#      floor measured here (1 rank x batch 3 against batch 1 x iter_size 3);
#   2. segment over 3 nodes: the bytes of 1 rank; crf-sweep over 3 nodes: the 1-rank table;
#   3. a node killed mid-training: the job ends (its other ranks do not hang: Slurm ends the step
#      on the node failure), is requeued, resumes from the newest checkpoint on the surviving
#      nodes and ends bitwise equal to an uninterrupted run with the same global batch;
#   4. a node killed mid-segment: requeued with --resume, the same bytes as 1 rank.
# usage: multinode.sh DEEPLAB MAKE_TEST_FILES REPO   (as root)
set -u
bin=$(realpath "$1")
tool=$(realpath "$2")
repo=$(realpath "$3")
source "$repo/tests/e2e/lib.sh"
[ "$(id -u)" = 0 ] || { fail "the multi-node Slurm needs root"; finish; exit 1; }
work=$(mktemp -d)
state=$work/slurm
trap 'bash "$repo/cluster/local/multinode-down.sh" "$state"; rm -rf "$work"' EXIT
bash "$repo/cluster/local/multinode-up.sh" "$state" 3 2 || { fail "multinode-up (exit $?)"; finish; exit 1; }
export SLURM_CONF=$state/slurm.conf OMP_NUM_THREADS=1
cd "$work"
start=$SECONDS

wait_job() {  # JOBID LIMIT_S: until it has left the queue; false if it is still there
  for _ in $(seq 1 $((2 * $2))); do [ -z "$(squeue -h -j "$1" 2>/dev/null)" ] && return 0; sleep 0.5; done
  return 1
}
state_of() { scontrol show job "$1" 2>/dev/null | sed -nE 's/.*JobState=([A-Z_]+).*/\1/p'; }
kill_node() { kill -9 $(ip netns pids "mn$1") 2>/dev/null; }  # slurmd and every rank there
same() {  # NAME A B RTOL
  local out
  if out=$("$tool" compare-models "$2" "$3" "$4" 2>&1); then pass "$1 ($out)"; else fail "$1: $out"; fi
}

"$bin" make-scenes --out scenes --train 24 --val 9 --size 64 >/dev/null 2>&1 || { fail "make-scenes"; finish; exit; }
"$tool" model m.h5 largefov 11 0.125
base=(--data "$work/scenes/train.h5" --model.num_classes 11 --model.width 0.125 --data.crop_size 49
      --solver.display 1 --data.loader_threads 1 --solver.base_lr 0.001)
common=("${base[@]}" --solver.snapshot 0)
mpi_env="export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_oob_tcp_if_include=10.251.0.0/24 OMPI_MCA_btl_tcp_if_include=10.251.0.0/24"

# 1. Training over 3 nodes, two ways, against one node.
j1=$(sbatch --parsable -N3 -n3 -o srun3.log --wrap "srun --mpi=pmix $bin train ${common[*]} --solver.max_iter 6 --solver.batch 1 --out $work/srun3")
j2=$(sbatch --parsable -N3 -n3 -o mpirun3.log --wrap "$mpi_env; mpirun -np 3 $bin train ${common[*]} --solver.max_iter 6 --solver.batch 1 --out $work/mpirun3")
$mpirun 3 "$bin" train "${common[@]}" --solver.max_iter 6 --solver.batch 1 --out local3 >/dev/null 2>&1 || fail "3 ranks on one node"
"$bin" train "${common[@]}" --solver.max_iter 6 --solver.batch 3 --out one >/dev/null 2>&1 || fail "1 rank x batch 3"
"$bin" train "${common[@]}" --solver.max_iter 6 --solver.batch 1 --solver.iter_size 3 --out split >/dev/null 2>&1 || fail "batch 1 x iter_size 3"
wait_job "$j1" 120 && wait_job "$j2" 120 || fail "training jobs still queued"
[ "$(state_of "$j1")" = COMPLETED ] && [ "$(state_of "$j2")" = COMPLETED ] && pass "train on 3 nodes: srun and mpirun jobs COMPLETED" ||
  { fail "train on 3 nodes: $(state_of "$j1") / $(state_of "$j2")"; tail -3 srun3.log mpirun3.log; }
nodes=$(scontrol show job "$j1" | sed -nE 's/^ +NodeList=(.*)/\1/p')
[ "$nodes" = "n[1-3]" ] && pass "the srun job ran on n1, n2 and n3" || fail "the srun job ran on '$nodes'"
same "3 nodes (srun) = 3 ranks on one node, bitwise" srun3/final.h5 local3/final.h5 0
same "3 nodes (mpirun in the allocation) = 3 ranks on one node, bitwise" mpirun3/final.h5 local3/final.h5 0
floor=$("$tool" compare-models one/final.h5 split/final.h5 1 | sed -E 's/max relative difference ([^ ]+).*/\1/')
bound=$(awk -v f="$floor" 'BEGIN { printf "%.3g", (f > 1e-7 ? 4 * f : 4e-7) }')
same "3 nodes = 1 rank x batch 3, within 4x the floor (batch 3 vs 1 x iter_size 3: $floor)" srun3/final.h5 one/final.h5 "$bound"

# 2. Segmentation and the sweep over 3 nodes, against 1 rank.
# (the same absolute paths as the jobs: the predictions file records its data's path)
"$bin" segment --model "$work/m.h5" --data "$work/scenes/val.h5" --out seg1.h5 --save-probs --piece-images 2 >/dev/null 2>&1 ||
  fail "segment, 1 rank"
j=$(sbatch --parsable -N3 -n3 -o seg3.log --wrap "srun --mpi=pmix $bin segment --model $work/m.h5 --data $work/scenes/val.h5 --out $work/seg3.h5 --save-probs --piece-images 2")
wait_job "$j" 120
cmp -s seg1.h5 seg3.h5 && pass "segment over 3 nodes: the bytes of 1 rank" || { fail "segment over 3 nodes differs ($(state_of "$j"))"; tail -3 seg3.log; }
printf '[crf]\nbi_w = 3,5\nbi_xy_std = 50,121\nbi_rgb_std = 5\niterations = 3\n' >grid.ini
"$bin" crf-sweep --probs seg1.h5 --data scenes/val.h5 --grid grid.ini --out sweep1 >/dev/null 2>&1 || fail "crf-sweep, 1 rank"
j=$(sbatch --parsable -N3 -n3 -o sweep3.log --wrap "srun --mpi=pmix $bin crf-sweep --probs $work/seg1.h5 --data $work/scenes/val.h5 --grid $work/grid.ini --out $work/sweep3")
wait_job "$j" 120
table() { tail -n +2 "$1" | cut -d, -f1-9 | sort; }
[ -s sweep3/results.csv ] && [ "$(table sweep1/results.csv)" = "$(table sweep3/results.csv)" ] &&
  pass "crf-sweep over 3 nodes: the 1-rank table" || { fail "crf-sweep over 3 nodes ($(state_of "$j"))"; tail -3 sweep3.log; }

# 3. A node killed mid-training. The uninterrupted run: 3 ranks x batch 1, as the job is.
train_long=(train "${base[@]}" --solver.max_iter 80 --solver.batch 1 --solver.snapshot 4)
$mpirun 3 "$bin" "${train_long[@]}" --out straight >/dev/null 2>&1 || fail "the uninterrupted run"
# The product's batch script, as a user submits it; it passes --resume auto itself.
export DEEPLAB=$bin
j=$(sbatch --parsable --requeue -n3 -N2-3 --spread-job -o requeued.log "$repo/cluster/slurm/train.sbatch" \
    "${train_long[@]:1}" --out "$work/requeued")
for _ in $(seq 1 1200); do [ -e requeued/checkpoint-0000012.h5 ] && break; sleep 0.05; done
t0=$SECONDS
kill_node 3
for _ in $(seq 1 120); do grep -q "resuming from" requeued.log && break; sleep 0.5; done
grep -q "resuming from" requeued.log && pass "node n3 killed: the job was requeued and resumed ($((SECONDS - t0)) s after the kill)" ||
  fail "node n3 killed: no resume after $((SECONDS - t0)) s ($(state_of "$j"))"
wait_job "$j" 120 || fail "the requeued job did not end"
[ "$(state_of "$j")" = COMPLETED ] && pass "the requeued training COMPLETED on the surviving nodes" ||
  { fail "the requeued training: $(state_of "$j")"; tail -5 requeued.log; }
same "killed node, requeued, resumed: the uninterrupted run, bitwise" requeued/final.h5 straight/final.h5 0

# 4. A node killed mid-segment; the job requeued with --resume.
"$bin" make-scenes --out more --train 1 --val 80 --size 64 >/dev/null 2>&1 || fail "make-scenes, 80 images"
"$bin" segment --model "$work/m.h5" --data "$work/more/val.h5" --out segk1.h5 --save-probs --piece-images 1 >/dev/null 2>&1 ||
  fail "segment 80, 1 rank"
j=$(sbatch --parsable -n2 -N1-2 --spread-job -o segk.log "$repo/cluster/slurm/segment.sbatch" \
    --model "$work/m.h5" --data "$work/more/val.h5" --out "$work/segk.h5" --save-probs --piece-images 1)
for _ in $(seq 1 1200); do [ -e segk.h5.parts/piece-000010.h5 ] && break; sleep 0.01; done
[ -e segk.h5 ] && fail "segment finished before the node was killed"
kill_node 2
wait_job "$j" 150 || fail "the requeued segment job did not end"
grep -q "from an interrupted run" segk.log && pass "the requeued segment job resumed from the pieces" || fail "no resume in segk.log"
cmp -s segk1.h5 segk.h5 && pass "node n2 killed mid-segment, requeued with --resume: the bytes of 1 rank ($(state_of "$j"))" ||
  { fail "segment after a node failure: $(state_of "$j")"; tail -5 segk.log; }
echo "multinode: $((SECONDS - start)) s"

# The teardown leaves nothing: no bridge, no namespace, no daemon of this cluster, no mount.
bash "$repo/cluster/local/multinode-down.sh" "$state"
left=""
ip link show mnbr0 >/dev/null 2>&1 && left+="bridge mnbr0; "
[ -n "$(ip netns list 2>/dev/null | grep '^mn[0-9]')" ] && left+="namespaces $(ip netns list | tr '\n' ' '); "
pgrep -f "slurm(ctld|d).*$state" >/dev/null && left+="daemons $(pgrep -af "slurm(ctld|d).*$state" | tr '\n' ' '); "
grep -q " /run/netns " /proc/mounts && left+="the /run/netns mount; "
[ -z "$left" ] && pass "teardown left nothing behind" || fail "teardown left: $left"
finish
