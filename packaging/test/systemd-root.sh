#!/usr/bin/env bash
# Boots systemd as PID 1 of a throwaway container made from this machine's own root (a PID,
# mount, cgroup, UTS and IPC namespace over an overlay of /, tmpfs upper layer), runs one
# script there as a systemd service, and exits with the script's status. The host is never
# written: everything the script does (dpkg, systemctl, /etc, /var) vanishes with the overlay.
#
#   systemd-root.sh [--dir D]... DIR SCRIPT [ARG]...
#
# DIR is bind-mounted at /results inside (put the files the script needs there); the script's
# output goes to DIR/out.log and is printed at the end. --dir makes D visible at the same path,
# copy-on-write, when it lives on another mount than / (a checkout, ~/.cargo). It runs after basic.target (the system
# bus socket is up) with BEHAVIORD_THROWAWAY_ROOT=1. Needs root and cgroup v2 (pure or hybrid).
set -euo pipefail

if [ "${1:-}" != --in-namespace ]; then
    dirs=()
    while [ "${1:-}" = --dir ]; do dirs+=("$(realpath "$2")"); shift 2; done
    [ $# -ge 2 ] || { echo "usage: systemd-root.sh [--dir D]... DIR SCRIPT [ARG]..." >&2; exit 2; }
    [ "$(id -u)" -eq 0 ] || { echo "systemd-root: needs root" >&2; exit 2; }
    results=$(realpath "$1")
    shift
    # Passed through the environment: a colon-separated list (paths with colons are not supported).
    export BEHAVIORD_ROOT_DIRS
    BEHAVIORD_ROOT_DIRS=$(IFS=:; echo "${dirs[*]}")
    # A cgroup of our own, which becomes the container's cgroup root.
    if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then
        cgroot=/sys/fs/cgroup
    elif [ -f /sys/fs/cgroup/unified/cgroup.procs ]; then
        cgroot=/sys/fs/cgroup/unified
    else
        echo "systemd-root: no cgroup v2 hierarchy at /sys/fs/cgroup or /sys/fs/cgroup/unified" >&2
        exit 2
    fi
    cg=$cgroot/behaviord-systemd-root.$$
    mkdir "$cg"
    : >"$results/out.log"
    rm -f "$results/status"
    # Made here so that it can be removed here: the namespace side ends in systemd.
    export BEHAVIORD_ROOT_WORK
    BEHAVIORD_ROOT_WORK=$(mktemp -d /tmp/behaviord-systemd-root.XXXXXX)
    rc=0
    # A subshell moves into the cgroup so that this shell can remove it afterwards.
    (echo "$BASHPID" >"$cg/cgroup.procs"
     exec timeout --kill-after=10 "${BEHAVIORD_SYSTEMD_TIMEOUT:-180}" \
         unshare --mount --pid --fork --cgroup --uts --ipc --propagation private \
         "$(realpath "$0")" --in-namespace "$results" "$@") || rc=$?
    find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null || true
    rmdir "$BEHAVIORD_ROOT_WORK" || true
    cat "$results/out.log"
    if [ ! -f "$results/status" ]; then
        echo "systemd-root: the script did not finish (systemd or unshare status $rc)" >&2
        exit 3
    fi
    exit "$(cat "$results/status")"
fi
shift
results=$1
shift

. "$(dirname "$(realpath "$0")")/overlay.sh"
work=$BEHAVIORD_ROOT_WORK
overlay_root "$work"
r=$work/root
mount -t proc proc "$r/proc"
mount -t sysfs sysfs "$r/sys"
mount -t cgroup2 cgroup2 "$r/sys/fs/cgroup"
# A /dev of its own, as container managers build it: the basic nodes bound from the host, a
# private devpts, and one input event node (no device behind it: opening it reaches the
# driver, which answers ENODEV, unless a device policy refuses first).
mount -t tmpfs -o mode=755,nosuid tmpfs "$r/dev"
for n in null zero full random urandom tty; do
    touch "$r/dev/$n"
    mount --bind "/dev/$n" "$r/dev/$n"
done
touch "$r/dev/console"
mount --bind /dev/null "$r/dev/console"
mkdir "$r/dev/pts" "$r/dev/shm" "$r/dev/input"
mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts "$r/dev/pts"
ln -s pts/ptmx "$r/dev/ptmx"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$r/dev/shm"
ln -s /proc/self/fd "$r/dev/fd"
mknod -m 0660 "$r/dev/input/event0" c 13 64
chgrp input "$r/dev/input/event0" 2>/dev/null || true
if [ -b /dev/loop0 ]; then
    mknod -m 0660 "$r/dev/loop0" b 7 0
fi
mount -t tmpfs tmpfs "$r/run"
mount -t tmpfs tmpfs "$r/tmp"
# Whatever the host has installed or running: the copy starts without behaviord.
package_free "$r"
mkdir -p "$r/results"
mount --bind "$results" "$r/results"
IFS=: read -r -a dirs <<<"${BEHAVIORD_ROOT_DIRS:-}"
overlay_dirs "$work" "${dirs[@]}"

# This copy is a machine of its own: services may start (container images often forbid it
# with policy-rc.d).
rm -f "$r/usr/sbin/policy-rc.d"
units=$r/etc/systemd/system
printf '%q ' "$@" >"$work/cmd"
install -m 0755 /dev/null "$r/results.sh"
{
    echo '#!/bin/bash'
    echo 'export BEHAVIORD_THROWAWAY_ROOT=1 DEBIAN_FRONTEND=noninteractive HOME=/root'
    echo 'cd /results'
    printf 'rc=0; '; cat "$work/cmd"; echo '>>/results/out.log 2>&1 || rc=$?'
    echo 'echo "$rc" >/results/status'
} >"$r/results.sh"
cat >"$units/behaviord-systemd-root.service" <<'EOF'
[Unit]
Description=Script under test in a throwaway systemd root
Wants=dbus.socket
After=basic.target dbus.socket
OnSuccess=exit.target
OnFailure=exit.target

[Service]
Type=oneshot
ExecStart=/results.sh
EOF
cat >"$units/behaviord-systemd-root.target" <<'EOF'
[Unit]
Description=Throwaway systemd root: basic system plus the script under test
Requires=basic.target behaviord-systemd-root.service
After=basic.target
EOF
exec chroot "$r" /usr/bin/env -i container=behaviord-test \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    /lib/systemd/systemd --unit=behaviord-systemd-root.target --show-status=no \
    --log-level=warning >"$results/systemd.log" 2>&1
