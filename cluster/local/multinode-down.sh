#!/usr/bin/env bash
# Stops what multinode-up.sh started and removes its namespaces, veths and bridge. Safe to run
# twice, and after a half-done bring-up. usage: cluster/local/multinode-down.sh STATE_DIR
state=$(realpath -m "${1:?usage: multinode-down.sh STATE_DIR}")
nodes=$(cat "$state/nodes" 2>/dev/null || echo 3)
stop() {  # PIDS...: TERM, then KILL after 10 s
  [ $# -eq 0 ] && return
  kill -TERM "$@" 2>/dev/null
  for _ in $(seq 1 100); do kill -0 "$@" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$@" 2>/dev/null
}
for i in $(seq 1 "$nodes"); do
  # A killed node leaves its pid file and pids get reused: the namespace says who is there.
  [ -e "/run/netns/mn$i" ] && stop $(ip netns pids "mn$i" 2>/dev/null)
done
[ -s "$state/slurmctld.pid" ] && stop "$(cat "$state/slurmctld.pid")"
[ -s "$state/munged.pid" ] && stop "$(cat "$state/munged.pid")" && rm -f "$state/munged.pid"
for i in $(seq 1 "$nodes"); do ip netns del "mn$i" 2>/dev/null; done
ip link del mnbr0 2>/dev/null
if [ -d /run/netns ] && [ -z "$(ls /run/netns 2>/dev/null)" ]; then umount -n /run/netns 2>/dev/null; rmdir /run/netns 2>/dev/null; fi
true
