#!/usr/bin/env bash
# A Slurm cluster of NODES nodes on this one machine, for the multi-node tests: each node is a
# network and UTS namespace of its own (hostname nI, address 10.251.0.1I on a private bridge
# mnbr0 with no route out), running its own slurmd; slurmctld and munged run in the root
# namespace. Ranks on different nodes talk TCP between the namespaces, so MPI, Slurm's node
# failure handling and requeues behave as on a real cluster; the files are shared (one disk).
# The recipe and its pitfalls: ../shared/notes/slurm-multinode-netns.md.
#   usage (as root): cluster/local/multinode-up.sh STATE_DIR [NODES=3] [CPUS=2]
#   then: export SLURM_CONF=STATE_DIR/slurm.conf; sbatch -N3 ...; cluster/local/multinode-down.sh STATE_DIR
# A node's processes: ip netns pids mnI (kill them to fail the node).
set -euo pipefail
state=$(realpath -m "${1:?usage: multinode-up.sh STATE_DIR [NODES] [CPUS]}")
nodes=${2:-3}
cpus=${3:-2}
[ "$(id -u)" = 0 ] || { echo "multinode-up.sh: needs root (namespaces, slurmd)" >&2; exit 1; }
for tool in slurmctld slurmd munged sinfo ip nsenter unshare; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] ||
    { echo "multinode-up.sh: $tool is not installed (apt-get install slurm-wlm munge iproute2)" >&2; exit 1; }
done
ip link show mnbr0 >/dev/null 2>&1 && { echo "multinode-up.sh: mnbr0 exists: a cluster is up (multinode-down.sh)" >&2; exit 1; }
mkdir -p "$state/ctld" "$state/d" "$state/log" "$state/tmp"
echo "$nodes" >"$state/nodes"

source "$(dirname "$0")/common.sh"
start_munge "$state"

ip link add mnbr0 type bridge
ip addr add 10.251.0.1/24 dev mnbr0
ip link set mnbr0 up
node_lines=""
for i in $(seq 1 "$nodes"); do
  ip netns add "mn$i"
  ip link add "mnv$i" type veth peer name eth0 netns "mn$i"
  ip link set "mnv$i" master mnbr0 up
  ip -n "mn$i" addr add "10.251.0.1$i/24" dev eth0
  ip -n "mn$i" link set lo up
  ip -n "mn$i" link set eth0 up
  mkdir -p "$state/d/n$i" "$state/tmp/n$i"
  node_lines+="NodeName=n$i NodeHostname=n$i NodeAddr=10.251.0.1$i CPUs=$cpus Boards=1 SocketsPerBoard=1 CoresPerSocket=$cpus ThreadsPerCore=1 RealMemory=2000 State=UNKNOWN"$'\n'
done

common_slurm_conf "$state" >"$state/slurm.conf"
cat >> "$state/slurm.conf" <<CONF
# Written by cluster/local/multinode-up.sh: $nodes nodes in network namespaces, one partition.
ClusterName=deeplab-multinode
SlurmctldHost=localhost(10.251.0.1)
SlurmctldPort=16827
SlurmdPort=16828
AuthInfo=cred_expire=10
SlurmdSpoolDir=$state/d/%n
TmpFS=$state/tmp/%n
SlurmdPidFile=$state/slurmd.%n.pid
SlurmdLogFile=$state/log/slurmd.%n.log
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0,bf_interval=1
SlurmdTimeout=5
MessageTimeout=5
KillWait=5
$node_lines
PartitionName=p Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$state/slurm.conf
/usr/sbin/slurmctld -c -f "$SLURM_CONF"
for i in $(seq 1 "$nodes"); do
  # nsenter, not `ip netns exec`, which remounts /sys and hides the cgroup tree slurmd wants.
  nsenter --net="/run/netns/mn$i" unshare --uts sh -c "hostname n$i && exec /usr/sbin/slurmd -N n$i -f '$SLURM_CONF'"
done
for _ in $(seq 1 300); do [ "$(sinfo -h -o %T 2>/dev/null | sort -u)" = idle ] && break; sleep 0.1; done
[ "$(sinfo -h -o %T 2>/dev/null | sort -u)" = idle ] ||
  { echo "multinode-up.sh: the nodes did not come up ($(sinfo -h -o '%N %T' | tr '\n' ' ')); see $state/log" >&2; exit 1; }
echo "Slurm is up with $nodes nodes: export SLURM_CONF=$SLURM_CONF"
