#!/usr/bin/env bash
# A single-node Slurm on this machine, for tests and for trying the batch scripts on a laptop:
# munge, slurmctld and slurmd, no systemd, no cgroups. Everything Slurm writes (config, state,
# logs, pid files) goes under STATE_DIR; ports 16817/16818 keep clear of a system Slurm. munged
# is started only when none is running (and then stopped by slurm-down.sh).
#   usage (as root): cluster/local/slurm-up.sh STATE_DIR [CPUS]
#   then: export SLURM_CONF=STATE_DIR/slurm.conf; sbatch ...; cluster/local/slurm-down.sh STATE_DIR
# CPUS (default 8) is what the node advertises; more than the machine has is fine for tests
# (SlurmdParameters=config_overrides). Facts behind the settings: ../shared/notes/slurm-on-localhost.md.
set -euo pipefail
state=$(realpath -m "${1:?usage: slurm-up.sh STATE_DIR [CPUS]}")
cpus=${2:-8}
[ "$(id -u)" = 0 ] || { echo "slurm-up.sh: needs root (slurmd runs jobs as their users)" >&2; exit 77; }
for tool in slurmctld slurmd munged sinfo; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || { echo "slurm-up.sh: $tool is not installed (apt-get install slurm-wlm munge)" >&2; exit 77; }
done
mkdir -p "$state/ctld" "$state/d" "$state/log"

source "$(dirname "$0")/common.sh"
start_munge "$state"

common_slurm_conf "$state" >"$state/slurm.conf"
cat >> "$state/slurm.conf" <<CONF
# Written by cluster/local/slurm-up.sh: one node (this machine), one partition, no accounting.
ClusterName=deeplab-local
SlurmctldHost=localhost
SlurmctldPort=16817
SlurmdPort=16818
SlurmdSpoolDir=$state/d
SlurmdPidFile=$state/slurmd.pid
SlurmdLogFile=$state/log/slurmd.log
# Schedule at once (the default waits 3 s between batch jobs).
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
SlurmdParameters=config_overrides
KillWait=10
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus Boards=1 SocketsPerBoard=1 CoresPerSocket=$cpus ThreadsPerCore=1 RealMemory=4000 State=UNKNOWN
PartitionName=local Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$state/slurm.conf
/usr/sbin/slurmctld -c -f "$SLURM_CONF"
/usr/sbin/slurmd -N localhost -f "$SLURM_CONF"
for _ in $(seq 1 300); do [ "$(sinfo -h -o %T 2>/dev/null)" = idle ] && break; sleep 0.1; done
[ "$(sinfo -h -o %T 2>/dev/null)" = idle ] || { echo "slurm-up.sh: the node did not come up; see $state/log" >&2; exit 1; }
echo "Slurm is up: export SLURM_CONF=$SLURM_CONF"
