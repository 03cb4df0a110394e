#!/usr/bin/env bash
# Stops what cluster/local/slurm-up.sh STATE_DIR started, by the pids it recorded (never by name,
# so a system Slurm or munge is left alone), and waits for each to exit.
#   usage: cluster/local/slurm-down.sh STATE_DIR
state=${1:?usage: slurm-down.sh STATE_DIR}
for f in "$state/slurmd.pid" "$state/slurmctld.pid" "$state/munged.pid"; do
  [ -s "$f" ] || continue
  pid=$(cat "$f")
  kill "$pid" 2>/dev/null || continue
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
  rm -f "$f"
done
exit 0
