#!/usr/bin/env bash
# Installs, upgrades, removes and purges the behaviord package and checks each step. It
# changes the system, so it runs only inside throwaway-root.sh:
#
#   packaging/test/throwaway-root.sh --dir DIR -- packaging/test/deb-lifecycle.sh OLD.deb NEW.deb
#
# (NEW has the higher version.) Prints "LIFECYCLE OK" as its last line on success; on
# failure, the check that failed.
set -euo pipefail

[ "${BEHAVIORD_THROWAWAY_ROOT:-}" = 1 ] || {
    echo "deb-lifecycle: refusing to run outside packaging/test/throwaway-root.sh" >&2
    exit 2
}
[ $# -eq 2 ] || { echo "usage: deb-lifecycle.sh OLD.deb NEW.deb" >&2; exit 2; }
old=$1 new=$2

fail() { echo "deb-lifecycle: FAILED: $*" >&2; exit 1; }
step() { echo "== $*"; }
dpkg_q() { dpkg-query -W -f='${db:Status-Abbrev}${Version}' behaviord 2>/dev/null || true; }
pam_sums() { sha256sum /etc/pam.d/common-*; }

checks() {
    trap 'echo "deb-lifecycle: FAILED at line $LINENO" >&2' ERR
    local ma pam_before unit_link alias_link conf had_conf out
    ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
    unit_link=/etc/systemd/system/multi-user.target.wants/behaviord.service
    alias_link=/etc/systemd/system/dbus-org.behaviord.Behavior1.service
    conf=/etc/behaviord/behaviord.toml
    pam_before=$(pam_sums)
    ! dpkg-query -W behaviord >/dev/null 2>&1 || fail "behaviord is already installed on this machine"

    step "install $(dpkg-deb -f "$old" Version)"
    dpkg -i "$old" || fail "dpkg -i of the old package"
    [ "$(dpkg_q)" = "ii $(dpkg-deb -f "$old" Version)" ] || fail "status after install: $(dpkg_q)"
    for f in /usr/sbin/behaviord /usr/bin/behaviorctl "/lib/$ma/security/pam_behavior.so" \
        /usr/share/dbus-1/system.d/org.behaviord.Behavior1.conf \
        /usr/share/dbus-1/system-services/org.behaviord.Behavior1.service \
        /lib/systemd/system/behaviord.service /usr/share/pam-configs/behavior \
        /usr/share/man/man8/pam_behavior.8.gz /usr/share/man/man8/behaviord.8.gz \
        /usr/share/man/man5/behaviord.toml.5.gz /usr/share/man/man1/behaviorctl.1.gz \
        /usr/share/doc/behaviord/copyright; do
        [ -f "$f" ] || fail "$f is not installed"
    done
    [ -L "$unit_link" ] && [ -L "$alias_link" ] || fail "the unit was not enabled on first install"
    [ "$(stat -c '%a %U' /var/lib/behaviord)" = "700 root" ] \
        || fail "the package did not create /var/lib/behaviord (root only)"
    [ "$(pam_sums)" = "$pam_before" ] || fail "installing changed /etc/pam.d/common-*"
    ! grep -rq pam_behavior /etc/pam.d || fail "installing put pam_behavior into /etc/pam.d"
    pam-auth-update --package 2>/dev/null
    [ "$(pam_sums)" = "$pam_before" ] || fail "the pam-auth-update profile is enabled by default"

    step "the installed module loads by name through libpam (no daemon here)"
    echo "auth required pam_behavior.so" > /etc/pam.d/behavior-lifecycle
    out=$(pamtester behavior-lifecycle root authenticate 2>&1) && fail "pamtester succeeded without a daemon"
    echo "$out" | grep -q "Authentication service cannot retrieve authentication info" \
        || fail "fail-open without a daemon: pamtester said: $out"
    echo "auth required pam_behavior.so fail=closed" > /etc/pam.d/behavior-lifecycle
    out=$(pamtester behavior-lifecycle root authenticate 2>&1) && fail "pamtester succeeded without a daemon"
    echo "$out" | grep -q "Authentication failure" \
        || fail "fail-closed without a daemon: pamtester said: $out"
    rm /etc/pam.d/behavior-lifecycle

    if command -v systemd-analyze >/dev/null; then
        step "systemd-analyze verify the installed unit"
        out=$(systemd-analyze verify /lib/systemd/system/behaviord.service 2>&1) \
            || fail "systemd-analyze verify: $out"
        [ -z "$out" ] || fail "systemd-analyze verify warns: $out"
    else
        echo "systemd-analyze not present: unit not verified"
    fi

    step "user data and a local policy edit survive the upgrade"
    mkdir -p -m 0700 /var/lib/behaviord
    echo data > /var/lib/behaviord/behaviord.db
    if [ -f "$conf" ]; then echo "# local edit" >> "$conf"; fi

    step "upgrade to $(dpkg-deb -f "$new" Version)"
    dpkg -i "$new" || fail "dpkg -i of the new package (upgrade)"
    [ "$(dpkg_q)" = "ii $(dpkg-deb -f "$new" Version)" ] || fail "status after upgrade: $(dpkg_q)"
    [ -f /var/lib/behaviord/behaviord.db ] || fail "the upgrade lost /var/lib/behaviord"
    if [ -f "$conf" ]; then
        grep -q "# local edit" "$conf" || fail "the upgrade overwrote the admin's $conf"
    fi
    [ -L "$unit_link" ] || fail "the upgrade disabled the unit"

    step "an admin's 'disabled' survives an upgrade"
    systemctl disable behaviord.service
    [ ! -e "$unit_link" ] || fail "systemctl disable left $unit_link"
    dpkg -i "$new" || fail "dpkg -i reinstalling the new package"
    [ ! -e "$unit_link" ] || fail "reinstalling re-enabled a unit the admin disabled"
    systemctl enable behaviord.service

    step "remove takes an enabled profile out of /etc/pam.d and keeps user data"
    had_conf=no; if [ -f "$conf" ]; then had_conf=yes; fi
    pam-auth-update --enable behavior
    grep -q pam_behavior.so /etc/pam.d/common-auth || fail "pam-auth-update --enable behavior did nothing"
    dpkg -r behaviord || fail "dpkg -r"
    [ "$(dpkg_q)" = "rc $(dpkg-deb -f "$new" Version)" ] || fail "status after remove: $(dpkg_q)"
    ! grep -rq pam_behavior /etc/pam.d || fail "pam_behavior is still in /etc/pam.d after remove"
    [ "$(pam_sums)" = "$pam_before" ] || fail "/etc/pam.d/common-* differ after remove"
    for f in /usr/sbin/behaviord /usr/bin/behaviorctl "/lib/$ma/security/pam_behavior.so" \
        /lib/systemd/system/behaviord.service /usr/share/pam-configs/behavior \
        /usr/share/dbus-1/system.d/org.behaviord.Behavior1.conf; do
        [ ! -e "$f" ] || fail "$f is still there after remove"
    done
    [ -f /var/lib/behaviord/behaviord.db ] || fail "remove deleted /var/lib/behaviord"
    if [ "$had_conf" = yes ]; then
        [ -f "$conf" ] || fail "remove deleted the conffile $conf"
    fi

    step "reinstall after remove, then purge"
    dpkg -i "$new" || fail "dpkg -i after remove"
    [ -L "$unit_link" ] || fail "reinstalling after remove did not enable the unit again"
    dpkg -P behaviord || fail "dpkg -P"
    dpkg-query -W behaviord >/dev/null 2>&1 && fail "dpkg still knows behaviord after purge: $(dpkg_q)"
    [ ! -e /var/lib/behaviord ] || fail "purge left /var/lib/behaviord"
    [ ! -e /etc/behaviord ] || fail "purge left /etc/behaviord"
    [ ! -e "$unit_link" ] && [ ! -e "$alias_link" ] || fail "purge left the unit's enablement links"
    [ "$(pam_sums)" = "$pam_before" ] || fail "/etc/pam.d/common-* differ after purge"
    echo "LIFECYCLE OK"
}

checks
