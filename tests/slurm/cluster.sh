#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for the tests of `spe sweep --executor slurm`.
#   tests/slurm/cluster.sh up     start munged, slurmctld and slurmd; wait until the node is idle
#   tests/slurm/cluster.sh down   stop them
# Needs root and Debian's slurm-wlm and munge packages (apt-get install -y slurm-wlm munge).
# Writes /etc/slurm/slurm.conf (keeping no earlier one) and keeps its state in $STATE.
set -euo pipefail
STATE=${SPE_SLURM_STATE:-/tmp/spe-slurm}
CONF=/etc/slurm/slurm.conf

die() { echo "slurm cluster: $*" >&2; exit 1; }

up() {
    [ "$(id -u)" = 0 ] || die "needs root"
    for tool in munged slurmctld slurmd sinfo sbatch; do
        command -v "$tool" >/dev/null || die "$tool not found (apt-get install -y slurm-wlm munge)"
    done
    mkdir -p "$STATE"/{ctld,spool} /run/munge /var/log/munge
    if [ ! -s /etc/munge/munge.key ]; then
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
    # Recursively: munged refuses a log file that is not its own ("Logfile is insecure"), and
    # one run as root earlier leaves /var/log/munge/munged.log owned by root.
    chown -R munge:munge /etc/munge/munge.key /run/munge /var/log/munge
    chmod 400 /etc/munge/munge.key
    host=$(hostname -s)
    mem=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
    mkdir -p /etc/slurm
    cat > "$CONF" <<CONF
ClusterName=spe-test
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
ReturnToService=2
KillWait=2
MinJobAge=60
NodeName=$host CPUs=$(nproc) RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
    pgrep -x munged >/dev/null || runuser -u munge -- /usr/sbin/munged
    [ -f "$STATE/slurmctld.pid" ] && kill -0 "$(cat "$STATE/slurmctld.pid")" 2>/dev/null \
        || slurmctld -c  # -c: a fresh cluster, no jobs left over from an earlier one
    [ -f "$STATE/slurmd.pid" ] && kill -0 "$(cat "$STATE/slurmd.pid")" 2>/dev/null || slurmd
    for _ in $(seq 60); do
        if sinfo -h -N -o %t 2>/dev/null | grep -qx idle; then
            echo "slurm cluster up: node $host idle"
            return
        fi
        sleep 0.5
    done
    die "node $host not idle after 30 s: $(sinfo -h -N -o '%t %E' 2>&1 | head -1); see $STATE/*.log"
}

down() {
    for daemon in slurmd slurmctld; do
        pidfile="$STATE/$daemon.pid"
        if [ -f "$pidfile" ]; then
            kill "$(cat "$pidfile")" 2>/dev/null || true
            rm -f "$pidfile"
        fi
    done
    echo "slurm cluster down"
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
