#!/usr/bin/env bash
# A real single-node SLURM cluster for tests and CI: munge, slurmctld and slurmd from Debian's
# packages, with fake GPUs advertised through gres (character devices, as gres requires).
#   scripts/slurm-cluster.sh start [N_GPUS]   # install if needed, configure, start; idempotent
#   scripts/slurm-cluster.sh stop
#   scripts/slurm-cluster.sh status
# Needs root (it installs packages and starts daemons). The fake GPUs only make the scheduler
# allocate and account for GPUs (CUDA_VISIBLE_DEVICES is set); jobs still compute on the CPU.
set -euo pipefail
ACTION=${1:-start}
GPUS=${2:-${MUBENCH_SLURM_GPUS:-4}}
STATE=${MUBENCH_SLURM_STATE:-/var/lib/mubench-slurm}
CONF_DIR=/etc/slurm
HOST=$(hostname -s)
CPUS=${MUBENCH_SLURM_CPUS:-8}          # advertised; config_overrides lets it exceed the real cores
MEM_MB=${MUBENCH_SLURM_MEM_MB:-64000}

install_packages() {
  if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      slurmctld slurmd slurm-client munge >/dev/null
  fi
}

configure() {
  mkdir -p "$CONF_DIR" "$STATE"/{ctld,d,log} /run/munge /run/slurm /var/log/munge /etc/munge
  chown munge:munge /run/munge /var/log/munge /etc/munge 2>/dev/null || true
  if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
  fi
  local last=$((GPUS - 1))
  for i in $(seq 0 "$last"); do
    [ -c "/dev/fakegpu$i" ] || mknod "/dev/fakegpu$i" c 195 "$i"
  done
  cat > "$CONF_DIR/slurm.conf" <<CONF
ClusterName=mubench
SlurmctldHost=${HOST}(127.0.0.1)
SlurmUser=root
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
AuthType=auth/munge
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SlurmdParameters=config_overrides
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MinJobAge=600
KillWait=5
GresTypes=gpu
NodeName=${HOST} NodeAddr=127.0.0.1 CPUs=${CPUS} RealMemory=${MEM_MB} Gres=gpu:${GPUS} State=UNKNOWN
PartitionName=gpu Nodes=${HOST} Default=YES MaxTime=INFINITE State=UP
CONF
  echo "Name=gpu File=/dev/fakegpu[0-${last}]" > "$CONF_DIR/gres.conf"
}

start() {
  install_packages
  configure
  pgrep -x munged >/dev/null || su -s /bin/sh munge -c "/usr/sbin/munged --force"
  pgrep -x slurmctld >/dev/null || slurmctld
  pgrep -x slurmd >/dev/null || slurmd
  for _ in $(seq 1 60); do
    if sinfo -h -o "%T" 2>/dev/null | grep -qE "idle|mixed|allocated"; then
      echo "slurm: ready ($HOST, $GPUS fake GPUs)"; return 0
    fi
    scontrol update nodename="$HOST" state=resume >/dev/null 2>&1 || true
    sleep 0.5
  done
  echo "slurm: not ready; logs in $STATE/log" >&2
  sinfo >&2 || true
  return 1
}

stop() {
  for daemon in slurmd slurmctld munged; do pkill -x "$daemon" 2>/dev/null || true; done
  echo "slurm: stopped"
}

case "$ACTION" in
  start) start ;;
  stop) stop ;;
  status) sinfo; squeue ;;
  *) echo "usage: $0 start [N_GPUS] | stop | status" >&2; exit 2 ;;
esac
