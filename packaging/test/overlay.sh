# Sourced by throwaway-root.sh and systemd-root.sh, inside their private mount namespace:
# a copy-on-write copy of this machine's root. Every change lands in a tmpfs and vanishes with
# the namespace.

# overlay_root WORK: mounts a tmpfs at WORK and an overlay of / at WORK/root.
overlay_root() {
    local work=$1
    mount -t tmpfs tmpfs "$work"
    mkdir -p "$work/root" "$work/upper/root" "$work/ovwork/root"
    mount -t overlay overlay \
        -o "lowerdir=/,upperdir=$work/upper/root,workdir=$work/ovwork/root" "$work/root"
    # man-db rebuilds its index on every dpkg run that touches man pages; slow, and never
    # what is under test.
    rm -f "$work/root/var/lib/man-db/auto-update"
}

# overlay_dirs WORK DIR...: makes each DIR visible at the same path in WORK/root, copy-on-write,
# where the root overlay does not show it: on another mount than /, or under /run or /tmp,
# which the callers cover with fresh tmpfs first. Call it after those mounts.
overlay_dirs() {
    local work=$1 d i=0
    shift
    for d in "$@"; do
        if [ "$(findmnt -n -o TARGET -T "$d")" = / ]; then
            case "$d" in /run | /run/* | /tmp | /tmp/*) ;; *) continue ;; esac
        fi
        i=$((i + 1))
        mkdir -p "$work/upper/$i" "$work/ovwork/$i" "$work/root$d"
        mount -t overlay overlay \
            -o "lowerdir=$d,upperdir=$work/upper/$i,workdir=$work/ovwork/$i" "$work/root$d"
    done
}

# package_free ROOT: makes the copy at ROOT a machine that never had behaviord, whatever the
# host has: the package purged inside the copy (its scripts see no systemd and no bus there,
# so nothing on the host is stopped or changed), and state or policy left by a `make
# install`, a removed package or a daemon run deleted. The host's running daemon and its
# lock in /var/lib/behaviord are then out of the copy's sight. Call it after /dev, /proc and
# a fresh /run are mounted in ROOT.
package_free() {
    local r=$1
    if chroot "$r" dpkg-query -W -f='${db:Status-Abbrev}' behaviord 2>/dev/null | grep -q '^[^u]'; then
        chroot "$r" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
            dpkg --purge behaviord >/dev/null 2>&1 \
            || { echo "overlay: cannot purge the host's behaviord inside the copy" >&2; return 1; }
    fi
    rm -rf "$r/var/lib/behaviord" "$r/etc/behaviord"
}
