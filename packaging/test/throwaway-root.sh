#!/usr/bin/env bash
# Runs a command as root chrooted in a throwaway copy of this machine: a private mount
# namespace with an overlay (tmpfs upper layer) over /, so dpkg, apt, /etc and /var can be
# changed freely and every change vanishes when the command ends. The host is never written.
#
#   throwaway-root.sh [--dir DIR]... -- COMMAND [ARG]...
#
# --dir makes DIR visible at the same path, copy-on-write, when it lives on another mount than
# / (a checkout, ~/.cargo). The copy has an empty /run: no running systemd and no system bus,
# as in a container, and no behaviord, even when the host has it installed or running
# (overlay.sh's package_free). The command sees BEHAVIORD_THROWAWAY_ROOT=1. Needs root: unshare, mount,
# chroot.
set -euo pipefail

if [ "${1:-}" != --in-namespace ]; then
    [ "$(id -u)" -eq 0 ] || { echo "throwaway-root: needs root (mount namespace, overlay)" >&2; exit 2; }
    exec unshare --mount --propagation private "$(realpath "$0")" --in-namespace "$@"
fi
shift

dirs=()
while [ $# -gt 0 ]; do
    case "$1" in
        --dir) dirs+=("$(realpath "$2")"); shift 2 ;;
        --) shift; break ;;
        *) echo "usage: throwaway-root.sh [--dir DIR]... -- COMMAND [ARG]..." >&2; exit 2 ;;
    esac
done
[ $# -gt 0 ] || { echo "throwaway-root: no command" >&2; exit 2; }

. "$(dirname "$(realpath "$0")")/overlay.sh"
work=$(mktemp -d /tmp/behaviord-root.XXXXXX)
overlay_root "$work"
r=$work/root
mount --rbind /dev "$r/dev"
mount -t proc proc "$r/proc"
mount -t tmpfs tmpfs "$r/run"
package_free "$r"
overlay_dirs "$work" "${dirs[@]}"

rc=0
chroot "$r" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME="${HOME:-/root}" LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive \
    BEHAVIORD_THROWAWAY_ROOT=1 "$@" </dev/null || rc=$?
umount -R "$r" || true
umount "$work" || true
rmdir "$work" || true
exit $rc
