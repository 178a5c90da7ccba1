#!/usr/bin/env bash
# The package under a running systemd: the postinst starts the hardened unit, the daemon
# serves its bus name from inside the sandbox, the installed CLI and PAM module reach it, bus
# activation starts it, pamtester enrolls and logs in through an installed service file (with
# recorded typings), the sandbox holds, upgrade restarts it, remove stops it, purge cleans.
# Changes the system, so it runs only inside systemd-root.sh:
#
#   packaging/test/systemd-root.sh DIR /results/systemd-checks.sh OLD.deb NEW.deb
#
# DIR (mounted at /results) also holds sandbox-probe.py, pamtester-e2e.py and
# iiitbh_two_subjects.jsonl.
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
# The daemon runs and owns its bus name.
serving() {
    [ "$(prop ActiveState)" = active ] || fail "$unit is $(prop ActiveState), not active"
    dbus-send --system --print-reply=literal --dest=org.freedesktop.DBus /org/freedesktop/DBus \
        org.freedesktop.DBus.NameHasOwner string:org.behaviord.Behavior1 | grep -q true \
        || fail "nobody owns org.behaviord.Behavior1"
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
serving
[ "$(stat -c '%a %U %G' /var/lib/behaviord)" = "700 root root" ] \
    || fail "/var/lib/behaviord is $(stat -c '%a %U %G' /var/lib/behaviord), not 700 root root"
loose=$(find /var/lib/behaviord -type f ! -perm 0600)
[ -z "$loose" ] || fail "state files readable by others: $loose"

echo "== the installed CLI and PAM module reach the installed daemon through the installed bus policy"
behaviorctl status >/dev/null || fail "behaviorctl status"
echo "auth required pam_behavior.so" >/etc/pam.d/behavior-systemd
behaviorctl set enrollment.behavior true >/dev/null || fail "behaviorctl set enrollment.behavior true"
behaviorctl set enrollment.pin true >/dev/null || fail "behaviorctl set enrollment.pin true"
# A login while the daemon is stopped starts it (the module asks the bus to activate it).
# pamtester runs from a service, in no logind session: only a virtual console is local.
systemctl stop "$unit"
out=$(pamtester -I tty=tty1 behavior-systemd root authenticate </dev/null 2>&1) && fail "pamtester succeeded without typing"
echo "$out" | grep -q "A typing pattern is displayed. Type the phrase exactly as shown." \
    || fail "pamtester did not start the enrollment: $out"
settle
serving
behaviorctl unset enrollment.behavior >/dev/null || fail "behaviorctl unset enrollment.behavior"
behaviorctl unset enrollment.pin >/dev/null || fail "behaviorctl unset enrollment.pin"
out=$(pamtester -I tty=tty1 behavior-systemd root authenticate </dev/null 2>&1) && fail "pamtester succeeded without typing"
echo "$out" | grep -q "Authentication service cannot retrieve authentication info" \
    || fail "not enrolled, enrollment off: expected PAM_AUTHINFO_UNAVAIL, pamtester said: $out"
rm /etc/pam.d/behavior-systemd

echo "== stop is clean; a call on the bus starts the daemon again (D-Bus activation)"
systemctl stop "$unit"
[ "$(prop ActiveState)" = inactive ] || fail "$unit is $(prop ActiveState) after stop"
[ "$(prop ExecMainStatus)" = 0 ] || fail "the daemon exited with $(prop ExecMainStatus) on SIGTERM"
dbus-send --system --print-reply --dest=org.behaviord.Behavior1 /org/behaviord \
    org.freedesktop.DBus.Peer.Ping >/dev/null || fail "a call to org.behaviord.Behavior1 did not activate it"
settle
serving
behaviorctl status >/dev/null || fail "behaviorctl status after activation"

echo "== pamtester through an installed service file: enrollment, genuine, impostor, wrong PIN"
# Recorded typings stand in for a keyboard: the daemon runs with --test-input (a drop-in that
# changes only ExecStart=) and pamtester-e2e.py injects them when the phrase is shown.
useradd -M behaviore2e || fail "useradd"
testinput=/etc/systemd/system/$unit.d/test-input.conf
mkdir -p "$(dirname "$testinput")"
printf '[Service]\nExecStart=\nExecStart=/usr/sbin/behaviord --test-input\n' >"$testinput"
systemctl daemon-reload
systemctl restart "$unit"
settle
serving
for setting in "phrase .xat17padn" "enrollment.behavior true" "enrollment.pin true"; do
    # shellcheck disable=SC2086 # two words on purpose
    behaviorctl set $setting >/dev/null || fail "behaviorctl set $setting"
done
# The README's test service: pam_permit stands in for the password that confirms an
# enrollment; the account line commits it (pamtester calls no pam_setcred).
printf '%s\n' 'auth [success=done ignore=ignore default=die] pam_behavior.so' \
    'auth required pam_permit.so' 'account optional pam_behavior.so commit' \
    'account required pam_permit.so' >/etc/pam.d/behavior-e2e
/results/pamtester-e2e.py behavior-e2e behaviore2e /results/iiitbh_two_subjects.jsonl \
    subject2 subject4 || fail "pamtester end to end (see above)"
rm /etc/pam.d/behavior-e2e "$testinput"
# The test user's pattern goes first: the daemon refuses to change the phrase under it.
behaviorctl remove-pattern behaviore2e >/dev/null || fail "behaviorctl remove-pattern"
for key in phrase enrollment.behavior enrollment.pin; do
    behaviorctl unset "$key" >/dev/null || fail "behaviorctl unset $key"
done
systemctl daemon-reload
systemctl restart "$unit"
settle
serving

echo "== the sandbox, probed from inside the unit (ExecStart= swapped, all else kept)"
if [ -x /results/sandbox-probe.py ]; then
    dropin=/etc/systemd/system/$unit.d/probe.conf
    mkdir -p "$(dirname "$dropin")"
    # logind too, so that the probe can check the calls session monitoring makes.
    systemctl start systemd-logind.service || fail "systemd-logind does not start here"
    printf '[Service]\nType=oneshot\nRestart=no\nEnvironment=PROBE_LOGIND=1\nExecStart=\nExecStart=/results/sandbox-probe.py\n' >"$dropin"
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

echo "== upgrade to $(dpkg-deb -f "$new" Version) restarts the daemon"
pid=$(prop MainPID)
dpkg -i "$new" >/dev/null || fail "dpkg -i of the new package"
settle
serving
[ "$(prop MainPID)" != "$pid" ] || fail "the upgrade did not restart the daemon"

echo "== remove stops the daemon, purge deletes its state"
dpkg -r behaviord >/dev/null || fail "dpkg -r"
[ "$(systemctl is-active "$unit" || true)" != active ] || fail "$unit still runs after remove"
! dbus-send --system --print-reply=literal --dest=org.freedesktop.DBus /org/freedesktop/DBus \
    org.freedesktop.DBus.NameHasOwner string:org.behaviord.Behavior1 | grep -q true \
    || fail "org.behaviord.Behavior1 is still owned after remove"
[ -d /var/lib/behaviord ] || fail "remove deleted /var/lib/behaviord"
dpkg -P behaviord >/dev/null || fail "dpkg -P"
[ ! -e /var/lib/behaviord ] || fail "purge left /var/lib/behaviord"
[ -z "$(systemctl list-unit-files "$unit" --no-legend)" ] || fail "$unit is still known after purge"
echo "SYSTEMD OK"
