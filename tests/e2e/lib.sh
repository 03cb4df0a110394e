# Helpers for the end-to-end scripts: results counted, one line per check.
# Source it, run checks, end with `finish`.
failures=0
# MPI runs on any machine: more ranks than cores allowed, no binding (ranks share the cores),
# and Open MPI's consent to run as root (containers, CI).
mpirun="mpirun --oversubscribe --bind-to none -np"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# scratch VAR: a fresh folder in VAR, removed at exit, with any background job still running
# (a killed run's survivors, a flock holder) killed first.
scratch() {
  printf -v "$1" '%s' "$(mktemp -d)"
  trap "kill -9 \$(jobs -p) 2>/dev/null; rm -rf '${!1}'" EXIT
}
pass() { echo "ok   $1"; }
fail() { echo "FAIL $1"; failures=$((failures + 1)); }

# expect NAME STATUS PATTERN -- COMMAND...: the exit status, and the pattern in stdout+stderr.
expect() {
  local name=$1 want_status=$2 pattern=$3
  shift 4
  local out status
  out=$("$@" 2>&1)
  status=$?
  if [ "$status" -ne "$want_status" ]; then
    fail "$name: exit $status, expected $want_status"; echo "$out" | tail -5; return 1
  fi
  if ! grep -qE -- "$pattern" <<<"$out"; then
    fail "$name: output lacks /$pattern/"; echo "$out" | tail -5; return 1
  fi
  pass "$name"
}

# expect_refused DIR NAME PATTERN -- COMMAND...: exit 1 with the pattern, and no output nor
# temporary left in DIR (the command writes DIR/bad.h5).
expect_refused() {
  local dir=$1 name=$2 pattern=$3
  shift 4
  expect "$name" 1 "$pattern" -- "$@"
  local left
  left=$(ls "$dir" | grep -E '^bad\.h5' || true)
  [ -z "$left" ] && pass "$name: nothing left behind" || fail "$name: left $left"
}

# The GPU scripts: whether a GPU is there is nvidia-smi's answer, not the binary's under test.
# None listed: skip (exit 77), or, under DEEPLAB_REQUIRE_GPU=1 (the prepared GPU run), fail.
# One listed: DEEPLAB must see it.
gpu_or_skip() {  # DEEPLAB
  if ! nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then
    [ "${DEEPLAB_REQUIRE_GPU:-}" = 1 ] && { echo "FAIL DEEPLAB_REQUIRE_GPU=1, yet nvidia-smi lists no GPU"; exit 1; }
    echo "skipped: nvidia-smi lists no GPU"
    exit 77
  fi
  "$1" info --devices | grep -q '^cuda:0' && return 0
  echo "FAIL nvidia-smi lists a GPU, but $1 sees none: $("$1" info --devices 2>&1 | tr '\n' ' ')"
  exit 1
}

finish() {
  echo "failures: $failures"
  [ "$failures" -eq 0 ]
}
