#!/bin/sh
# Starts, stops and restarts behaviord by hand where systemd does not run (a container).
# Installed as /usr/lib/behaviord/daemon.sh; run as root:
#
#   /usr/lib/behaviord/daemon.sh start|stop|restart|status
#
# start first makes sure the system bus answers: when it does not, it clears the stale
# /run/dbus/pid and socket a dead bus leaves behind (dbus-daemon refuses to start over
# them) and starts one. The daemon's output goes to $BEHAVIORD_LOG (/var/log/behaviord.log).
# With systemd running, use systemctl instead. $BEHAVIORD picks another daemon binary.
set -eu

daemon=${BEHAVIORD:-@SBINDIR@/behaviord}
case "$daemon" in @*) daemon=/usr/sbin/behaviord ;; esac  # run from the checkout
log=${BEHAVIORD_LOG:-/var/log/behaviord.log}
name=org.behaviord.Behavior1

say() { echo "behaviord: $*" >&2; }

bus_up() {
    dbus-send --system --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
        org.freedesktop.DBus.GetId >/dev/null 2>&1
}

# The pid of the process owning the daemon's name, empty when none does.
owner() {
    dbus-send --system --print-reply=literal --dest=org.freedesktop.DBus /org/freedesktop/DBus \
        org.freedesktop.DBus.GetConnectionUnixProcessID "string:$name" 2>/dev/null \
        | awk '{ print $2 }'
}

start_bus() {
    bus_up && return 0
    rm -f /run/dbus/pid /run/dbus/system_bus_socket
    mkdir -p /run/dbus
    # Root without CAP_SYS_RESOURCE (a container): dbus-daemon warns that it cannot raise its
    # fd limit to 65536, which is harmless here; its other messages are passed on.
    err=$(mktemp)
    rc=0
    dbus-daemon --system --fork 2>"$err" || rc=$?
    grep -v "Failed to set fd limit" "$err" >&2 || true
    rm -f "$err"
    [ $rc -eq 0 ] || { say "cannot start the system bus (dbus-daemon --system)"; exit 1; }
}

start() {
    start_bus
    pid=$(owner)
    if [ -n "$pid" ]; then
        say "already running (pid $pid)"
        return 0
    fi
    setsid "$daemon" >>"$log" 2>&1 </dev/null &
    child=$!
    i=0
    while [ $i -lt 200 ]; do
        pid=$(owner)
        if [ -n "$pid" ]; then
            say "running (pid $pid); its log: $log"
            return 0
        fi
        kill -0 "$child" 2>/dev/null || break
        sleep 0.1
        i=$((i + 1))
    done
    say "the daemon did not start; the end of $log:"
    tail -n 20 "$log" >&2
    exit 1
}

stop() {
    pid=$(owner)
    if [ -z "$pid" ]; then
        say "not running"
        return 0
    fi
    kill -TERM "$pid"
    # It lets calls in progress finish, for at most 10 s.
    i=0
    while kill -0 "$pid" 2>/dev/null; do
        [ $i -lt 150 ] || { say "pid $pid still runs 15 s after SIGTERM"; exit 1; }
        sleep 0.1
        i=$((i + 1))
    done
    say "stopped"
}

[ $# -eq 1 ] || { echo "usage: $0 start|stop|restart|status" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { say "needs root"; exit 1; }
if [ -d /run/systemd/system ]; then
    say "systemd runs here: use systemctl $1 behaviord"
    exit 1
fi
case "$1" in
    start) start ;;
    stop) stop ;;
    restart) stop; start ;;
    status)
        pid=$(owner)
        if [ -n "$pid" ]; then say "running (pid $pid)"; else say "not running"; exit 3; fi ;;
    *) echo "usage: $0 start|stop|restart|status" >&2; exit 2 ;;
esac
