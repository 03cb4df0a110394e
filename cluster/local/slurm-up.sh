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

# munge: the key the Debian package made, the runtime folder systemd would have made.
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  [ -s /etc/munge/munge.key ] || mungekey --create --keyfile=/etc/munge/munge.key
  chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
  install -d -o munge -g munge -m 0755 /run/munge
  runuser -u munge -- /usr/sbin/munged
  cp /run/munge/munged.pid "$state/munged.pid"   # ours to stop
  for _ in $(seq 1 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
fi

cat > "$state/slurm.conf" <<CONF
# Written by cluster/local/slurm-up.sh: one node (this machine), one partition, no accounting.
ClusterName=deeplab-local
SlurmctldHost=localhost
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/d
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SwitchType=switch/none
MpiDefault=pmix
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# Schedule at once (the default waits 3 s between batch jobs), and cancel jobs whose
# dependencies can no longer be met (the 22.05 spelling: not in SchedulerParameters).
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
DependencyParameters=kill_invalid_depend
SlurmdParameters=config_overrides
ReturnToService=2
MinJobAge=600
KillWait=10
MailProg=/bin/true
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus Boards=1 SocketsPerBoard=1 CoresPerSocket=$cpus ThreadsPerCore=1 RealMemory=4000 State=UNKNOWN
PartitionName=local Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$state/slurm.conf
/usr/sbin/slurmctld -c -f "$SLURM_CONF"
/usr/sbin/slurmd -N localhost -f "$SLURM_CONF"
for _ in $(seq 1 300); do [ "$(sinfo -h -o %T 2>/dev/null)" = idle ] && break; sleep 0.1; done
[ "$(sinfo -h -o %T 2>/dev/null)" = idle ] || { echo "slurm-up.sh: the node did not come up; see $state/log" >&2; exit 1; }
echo "Slurm is up: export SLURM_CONF=$SLURM_CONF"
