# Sourced by slurm-up.sh and multinode-up.sh: what a Slurm on this machine needs whatever its
# number of nodes.

# munge, unless one runs: the key the Debian package made, the runtime folder systemd would have
# made. Its pid goes to STATE/munged.pid, for the down scripts to stop it.
start_munge() {  # STATE
  munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && return 0
  [ -s /etc/munge/munge.key ] || mungekey --create --keyfile=/etc/munge/munge.key
  chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
  install -d -o munge -g munge -m 0755 /run/munge
  runuser -u munge -- /usr/sbin/munged
  cp /run/munge/munged.pid "$1/munged.pid"   # ours to stop
  for _ in $(seq 1 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
}

# The slurm.conf lines every local cluster shares: root runs everything, munge, no cgroups, no
# accounting, pmix, cores as the unit, and a failed dependency cancels its dependants (the 22.05
# spelling: not in SchedulerParameters).
common_slurm_conf() {  # STATE
  cat <<CONF
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$1/ctld
SlurmctldPidFile=$1/slurmctld.pid
SlurmctldLogFile=$1/log/slurmctld.log
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
DependencyParameters=kill_invalid_depend
ReturnToService=2
MinJobAge=600
MailProg=/bin/true
CONF
}
