#!/usr/bin/env bash
# The whole GPU check in one call on the GPU machine (see bundle.sh): unpack the bundle, point
# the loader at the machine's own CUDA, cuDNN and NCCL, then run, with DEEPLAB_REQUIRE_GPU=1 so
# that no GPU test can pass by skipping:
#   1. the GPU unit tests (every GPU operator and the CRF against the CPU),
#   2. tests/e2e/gpu.sh (training 1 vs 2 ranks vs the CPU, resume, segment and sweep vs the CPU),
#   3. tests/bench/gpu.sh (the figures, also as bench.json).
# Logs and JSON go to $OUT (or ./gpu-out). Each stage has a time limit so that the whole run
# ends inside 8 minutes; the exit status is the number of failed stages.
# STAGES (default "unit e2e bench") picks stages for a rerun. EXTRA, a script, runs last as a fourth stage with the bundle's programs on PATH (a one-off
# diagnostic such as cudnn-choices.sh).
# usage, from the repository root: bash tests/gpu/on-device.sh BUILD/gpu-bundle.tar.xz [EXTRA]
set -uo pipefail
bundle_file=$1
extra=${2:-}
out=${OUT:-$PWD/gpu-out}
mkdir -p "$out"
here=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
stamp() { echo "[on-device $(date +%T)] $*" | tee -a "$out/summary.txt"; }

# tar needs xz for this; Python's tarfile does without it.
tar -xJf "$bundle_file" -C "$work" 2>/dev/null ||
  python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$bundle_file" "$work" ||
  { stamp "cannot unpack $bundle_file"; exit 1; }
source "$work/bundle/env.sh"
export DEEPLAB_REQUIRE_GPU=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

# The machine's CUDA libraries: whatever the programs still miss (and the driver, which CUDA's
# runtime opens by name), looked for where CUDA, the driver and Python's wheels put them.
# Python's own folders too (a virtual environment's or the user's site-packages hold the
# nvidia-* wheels), wherever that Python lives.
wanted=$( (ldd "$work"/bundle/bin/* | awk '/not found/ { print $1 }'; echo libcuda.so.1) | sort -u)
stamp "looking for: $(echo $wanted)"
python_sites=$(python3 -c 'import site; print(" ".join(site.getsitepackages() + [site.getusersitepackages()]))' 2>/dev/null || true)
for name in $wanted; do
  # shellcheck disable=SC2086
  found=$(find /usr/local/nvidia /usr/local/cuda /usr/local/cuda-* /usr/lib/x86_64-linux-gnu /usr/lib64 /opt \
            /usr/local/lib $python_sites -name "$name" \( -type f -o -type l \) 2>/dev/null | head -1)
  if [ -n "$found" ]; then
    LD_LIBRARY_PATH=$LD_LIBRARY_PATH:$(dirname "$found")
    echo "$name: $found" >>"$out/setup.log"
  else
    stamp "MISSING $name"
  fi
done
export LD_LIBRARY_PATH
{
  echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
  nvidia-smi -L
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
  ldd "$work"/bundle/bin/deeplab
  deeplab info --devices
  nproc
} >>"$out/setup.log" 2>&1
stamp "GPU: $(nvidia-smi -L 2>&1 | head -1); deeplab sees: $(deeplab info --devices 2>&1 | tr '\n' ' ')"

failed=0
stage() {  # NAME LIMIT_S COMMAND...: one stage, its log in $out/NAME.log
  local name=$1 limit=$2 start=$SECONDS status
  shift 2
  timeout -k 5 "$limit" "$@" >"$out/$name.log" 2>&1
  status=$?
  stamp "$name: exit $status in $((SECONDS - start)) s$([ $status -eq 124 ] && echo ' (time limit)')"
  [ $status -eq 0 ] || failed=$((failed + 1))
}
gpu_tests='Cuda.*:Ops/OpCudaTest.*:CudnnCandidates.*:Device.*:CrfCuda.*:*GpuNetwork*:GpuKernels.*:CrfLattice.Gpu*'
stages=${STAGES:-unit e2e bench}
wanted_stage() { [[ " $stages " == *" $1 "* ]]; }
wanted_stage unit && stage unit 120 unit_tests --gtest_filter="$gpu_tests" --gtest_output="json:$out/unit.json"
wanted_stage unit && grep -E '^\[  (FAILED|SKIPPED) |^\[  PASSED|tests ran' "$out/unit.log" | tee -a "$out/summary.txt"
wanted_stage e2e && stage e2e 180 bash "$here/tests/e2e/gpu.sh" "$(command -v deeplab)" "$(command -v make_test_files)"
wanted_stage e2e && grep -E '^(ok|FAIL|failures)' "$out/e2e.log" | tee -a "$out/summary.txt"
wanted_stage bench && stage bench 150 bash "$here/tests/bench/gpu.sh" "$(command -v deeplab)" "$out/bench.json"
wanted_stage bench && cat "$out/bench.log" >>"$out/summary.txt"
[ -n "$extra" ] && stage extra 120 bash "$extra"
stamp "failed stages: $failed"
exit $failed
