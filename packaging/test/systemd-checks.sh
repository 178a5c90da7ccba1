#!/usr/bin/env bash
# The package under a running systemd: the postinst starts the hardened unit, the sandbox
# sets up, the state directory is created 0700, upgrade restarts, remove stops, purge cleans.
# Changes the system, so it runs only inside systemd-root.sh:
#
#   packaging/test/systemd-root.sh DIR DIR/systemd-checks.sh OLD.deb NEW.deb
#
# Prints "SYSTEMD OK" as its last line on success.
set -euo pipefail

[ "${BEHAVIORD_THROWAWAY_ROOT:-}" = 1 ] || {
    echo "systemd-checks: refusing to run outside packaging/test/systemd-root.sh" >&2
    exit 2
}
[ $# -eq 2 ] || { echo "usage: systemd-checks.sh OLD.deb NEW.deb" >&2; exit 2; }
old=$1 new=$2
unit=behaviord.service

fail() {
    echo "systemd-checks: FAILED: $*" >&2
    systemctl status "$unit" --no-pager >&2 || true
    journalctl -u "$unit" --no-pager -n 30 >&2 || true
    exit 1
}
prop() { systemctl show -P "$1" "$unit"; }
# Waits until the unit is no longer starting or stopping.
settle() {
    for _ in $(seq 100); do
        if [ "$(prop SubState)" = auto-restart ]; then
            started_in_sandbox
            fail "the daemon keeps exiting with status $(prop ExecMainStatus); systemd restarts it"
        fi
        case "$(prop ActiveState)" in activating|deactivating|reloading) sleep 0.1 ;; *) return 0 ;; esac
    done
    fail "$unit is still $(prop ActiveState) after 10 s"
}
# systemd's own exit codes 200..245 mean it could not set up the sandbox before running the
# daemon (226 NAMESPACE, 218 CAPABILITIES, 228 SECCOMP, 238 STATE_DIRECTORY, ...).
started_in_sandbox() {
    local code status
    [ "$(prop ExecMainStartTimestampMonotonic)" != 0 ] || fail "$unit was never started"
    code=$(prop ExecMainCode) status=$(prop ExecMainStatus)
    if [ "$code" = 1 ] && [ "$status" -ge 200 ] && [ "$status" -le 245 ]; then
        fail "systemd could not set up the unit's sandbox: exit status $status (systemd.exec(5), PROCESS EXIT CODES)"
    fi
}

[ -d /run/systemd/system ] || fail "systemd is not running here"

echo "== install $(dpkg-deb -f "$old" Version): the postinst enables and starts the unit"
dpkg -i "$old" >/dev/null || fail "dpkg -i of the old package"
[ "$(systemctl is-enabled "$unit")" = enabled ] || fail "$unit is not enabled"
settle
started_in_sandbox
[ "$(stat -c '%a %U %G' /var/lib/behaviord)" = "700 root root" ] \
    || fail "/var/lib/behaviord is $(stat -c '%a %U %G' /var/lib/behaviord), not 700 root root"

echo "== the sandbox, probed from inside the unit (ExecStart= swapped, all else kept)"
if [ -x /results/sandbox-probe.py ]; then
    dropin=/etc/systemd/system/$unit.d/probe.conf
    mkdir -p "$(dirname "$dropin")"
    printf '[Service]\nType=oneshot\nRestart=no\nExecStart=\nExecStart=/results/sandbox-probe.py\n' >"$dropin"
    systemctl daemon-reload
    systemctl restart "$unit" || fail "the sandbox probe did not run"
    [ -f /var/lib/behaviord/probe.out ] || fail "the sandbox probe wrote no results"
    cat /var/lib/behaviord/probe.out
    ! grep -q '^FAIL' /var/lib/behaviord/probe.out || fail "the sandbox is not as intended (see above)"
    rm -f "$dropin" /var/lib/behaviord/probe.out
    systemctl daemon-reload
    systemctl restart "$unit" || true
    settle
else
    fail "/results/sandbox-probe.py is missing"
fi

echo "== upgrade to $(dpkg-deb -f "$new" Version)"
was=$(prop ActiveState)
dpkg -i "$new" >/dev/null || fail "dpkg -i of the new package"
settle
[ "$(prop ActiveState)" = "$was" ] || fail "$unit was $was before the upgrade, $(prop ActiveState) after"
started_in_sandbox

echo "== remove stops the daemon, purge deletes its state"
dpkg -r behaviord >/dev/null || fail "dpkg -r"
[ "$(systemctl is-active "$unit" || true)" != active ] || fail "$unit still runs after remove"
[ -d /var/lib/behaviord ] || fail "remove deleted /var/lib/behaviord"
dpkg -P behaviord >/dev/null || fail "dpkg -P"
[ ! -e /var/lib/behaviord ] || fail "purge left /var/lib/behaviord"
[ -z "$(systemctl list-unit-files "$unit" --no-legend)" ] || fail "$unit is still known after purge"
echo "SYSTEMD OK"
