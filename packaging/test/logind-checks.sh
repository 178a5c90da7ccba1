#!/usr/bin/env bash
# behaviord against the real systemd-logind (issue 13, findings 3 and 7). Runs only inside
# packaging/test/systemd-root.sh, with the checkout visible:
#
#   systemd-root.sh --dir CHECKOUT DIR /results/logind-checks.sh DAEMON
#
# DIR (at /results) holds behaviord.toml, behaviord.db (nobody enrolled, with a session
# profile), monitor_aalto.jsonl, logind-session.py and inject-until.py. DAEMON is the built
# behaviord. Prints "LOGIND OK" as its last line on success.
#
# 1. Begin's locality is logind's record of the calling process: a process in no session
#    (a service) is local only on a virtual console; a session without a seat, or a remote one
#    (PAM_RHOST), is remote whatever tty it claims; a session on seat0 is local on a pty.
# 2. The monitor: the owner's SetLockedHint(true) does not switch it off (another typist is
#    still stepped up); a LockSession that locks nothing (no screen locker runs here) ends
#    the session with E_SESSION_STEP_UP not_locked then E_SESSION_TERMINATED.
set -euo pipefail

[ "${BEHAVIORD_THROWAWAY_ROOT:-}" = 1 ] || {
    echo "logind-checks: refusing to run outside packaging/test/systemd-root.sh" >&2
    exit 2
}
daemon=$1
here=$(dirname "$(realpath "$0")")
checkout=$(realpath "$here/../..")
db=/tmp/behaviord-state/behaviord.db
fail() {
    echo "logind-checks: FAILED: $*" >&2
    cat /tmp/behaviord.log >&2 || true
    loginctl list-sessions --no-pager >&2 || true
    [ -z "${id:-}" ] || loginctl show-session "$id" >&2 || true
    busctl --system call org.behaviord.Behavior1 /org/behaviord/Admin org.behaviord.Admin1 \
        Status >&2 || true
    exit 1
}
# su opens its logind session through pam_systemd (common-session, libpam-systemd): without
# it every case below would run in no session at all.
ls /lib/*/security/pam_systemd.so /usr/lib/*/security/pam_systemd.so >/dev/null 2>&1 ||
    fail "pam_systemd.so is missing: install libpam-systemd (scripts/deps.sh --test does)"
# Waits up to 10 s for COMMAND (evaluated anew each time) to succeed.
wait_for() {
    for _ in $(seq 100); do eval "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done
    return 1
}

systemctl start systemd-logind.service || fail "systemd-logind does not start"
install -m 0644 "$checkout/etc/dbus-1/system.d/org.behaviord.Behavior1.conf" /etc/dbus-1/system.d/
busctl call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus ReloadConfig
install -d -m 0700 /tmp/behaviord-state
cp /results/behaviord.db "$db"
"$daemon" --test-input --config /results/behaviord.toml --state-dir /tmp/behaviord-state \
    --syslog-socket /tmp/no-syslog >/tmp/behaviord.log 2>&1 &
wait_for "busctl --system status org.behaviord.Behavior1" || fail "behaviord did not start"

# 1. Locality.
begin() {
    busctl --system call org.behaviord.Behavior1 /org/behaviord/Auth org.behaviord.Auth1 \
        Begin ssss nobody login "$1" "" 2>&1 || true
}
export -f begin
expect() {
    case "$3" in
        *"$2"*) echo "ok: $1" ;;
        *) fail "$1: expected \"$2\", got: $3" ;;
    esac
}
expect "no session, pts/0: remote" "is in no logind session" "$(begin pts/0)"
expect "no session, tty1: local" '"verify"' "$(begin tty1)"
expect "session without a seat, tty1: remote" "has no seat" \
    "$(su root -s /bin/bash -c 'begin tty1')"
expect "session on seat0, pts/0: local" '"verify"' \
    "$(XDG_SEAT=seat0 su root -s /bin/bash -c 'begin pts/0')"
printf 'session required pam_systemd.so\n' >/etc/pam.d/behaviord-session
expect "remote session (PAM_RHOST), tty1: remote" "is remote" \
    "$(/usr/bin/python3 /results/logind-session.py 198.51.100.7 pts/9 /bin/bash -c 'begin tty1')"

# 2. The monitor. nobody's session on seat0, held open by a sleep.
session_of_nobody() {
    loginctl list-sessions --no-legend --no-pager | awk '$3 == "nobody" { print $1 }' | head -n 1
}
# The daemon's monitor lists session $1.
tracked() {
    busctl --system call org.behaviord.Behavior1 /org/behaviord/Admin org.behaviord.Admin1 Status \
        | grep -q "\"$1\""
}
events() {
    /usr/bin/python3 -c 'import sqlite3, sys
for row in sqlite3.connect(sys.argv[1]).execute(
        "SELECT name, outcome FROM events WHERE name LIKE ? ORDER BY id", ("E_SESSION_%",)):
    print(*row)' "$db"
}
open_session() {
    # $1: what the owner runs in it first.
    XDG_SEAT=seat0 XDG_SESSION_CLASS=user setsid su nobody -s /bin/bash -c "$1; exec sleep 300" </dev/null >/dev/null 2>&1 &
    wait_for '[ -n "$(session_of_nobody)" ]' || fail "no logind session for nobody"
    id=$(session_of_nobody)
    [ "$(loginctl show-session -P Seat "$id")" = seat0 ] || fail "session $id is not on seat0"
    wait_for '[ "$(loginctl show-session -P Active "$id")" = yes ]' || fail "session $id is not active"
}

open_session "busctl call org.freedesktop.login1 /org/freedesktop/login1/session/auto org.freedesktop.login1.Session SetLockedHint b true"
wait_for '[ "$(loginctl show-session -P LockedHint "$id")" = yes ]' \
    || fail "the owner's SetLockedHint(true) did not take"
# The monitor has picked the session up once the daemon reports it.
wait_for 'tracked "$id"' \
    || fail "the monitor never tracked session $id"
/usr/bin/python3 /results/inject-until.py /results/monitor_aalto.jsonl a112 "$db" E_SESSION_STEP_UP
expect "the owner's LockedHint does not switch monitoring off" "E_SESSION_STEP_UP locked" "$(events)"
loginctl terminate-session "$id"
wait_for '[ -z "$(session_of_nobody)" ]' || fail "session $id did not end"

# A fresh session, no LockedHint: logind's LockSession finds no locker.
open_session true
wait_for 'tracked "$id"' \
    || fail "the monitor never tracked session $id"
/usr/bin/python3 /results/inject-until.py /results/monitor_aalto.jsonl a112 "$db" E_SESSION_TERMINATED
expect "a lock that locks nothing ends the session" \
    "$(printf 'E_SESSION_STEP_UP locked\nE_SESSION_STEP_UP not_locked\nE_SESSION_TERMINATED terminated')" "$(events)"
wait_for '[ -z "$(session_of_nobody)" ]' || fail "session $id was not terminated"
echo "ok: session $id terminated by logind"
echo "LOGIND OK"
