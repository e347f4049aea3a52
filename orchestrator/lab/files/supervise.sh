#!/bin/sh
# Keeps one lab host running the way a server comes back: when the container reboots
# (systemd-nspawn exits with 133) start it again; any other exit (poweroff, crash) ends it.
# On TERM, stop the host (nspawn shuts the container down in order) and exit.
# Usage: supervise.sh PIDFILE -- systemd-nspawn ARGS...
set -u
pidfile=$1
shift 2
child=
# Own cgroups (made by the lab) so this host's systemd does not share them with others.
for cg in ${PBXLAB_CGROUPS:-}; do
    echo $$ > "$cg/cgroup.procs"
done
stop() {
    if [ -n "$child" ]; then
        kill -TERM "$child" 2>/dev/null
        wait "$child"
    fi
    rm -f "$pidfile"
    exit 0
}
trap stop TERM INT HUP
while :; do
    "$@" &
    child=$!
    echo "$child" > "$pidfile"
    wait "$child"
    rc=$?
    child=
    echo "pbxops-lab: host exited with status $rc" >&2
    [ "$rc" -eq 133 ] || break
    echo "pbxops-lab: host rebooted; starting it again" >&2
done
rm -f "$pidfile"
