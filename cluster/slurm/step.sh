# Sourced by the resumable batch scripts (train, segment, sweep), from the folder of the script
# as submitted (sbatch runs a copy from its spool; scontrol knows the original): run_step runs the job step, and
# when it fails because a node of the job died, requeues the job so that it resumes on the nodes
# that are left. Slurm requeues a --requeue job itself on a node failure, but only once it has
# marked the node down; the dead node's peers notice first (their connections fail), the step
# ends, and the job would end FAILED. So after a failed step this waits up to
# DEEPLAB_NODE_WAIT seconds (default 15) for a node of the job to stop responding; if one does,
# it requeues the job, else it exits with the step's status.
run_step() {
  local status=0
  "$@" || status=$?
  [ "$status" -eq 0 ] && return 0
  for _ in $(seq 1 "${DEEPLAB_NODE_WAIT:-15}"); do
    if sinfo -h -N -n "$SLURM_JOB_NODELIST" -o '%N %T' 2>/dev/null | grep -qiE '\*|down|fail'; then
      echo "$(date -Is) job $SLURM_JOB_ID: a node stopped responding ($(sinfo -h -N -n "$SLURM_JOB_NODELIST" -o '%N %T' | tr '\n' ' ')): requeued"
      scontrol requeue "$SLURM_JOB_ID"
      sleep 600  # Slurm ends this run of the script
    fi
    sleep 1
  done
  return "$status"
}
