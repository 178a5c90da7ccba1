#!/usr/bin/env bash
# Try behaviord without installing it or touching the system's login: starts a private
# system-type D-Bus (with the project's own bus policy) and the built daemon with a temporary
# state directory and a copy of etc/behaviord.toml, then opens a shell (or runs COMMAND) where
# behaviorctl and the PAM module talk to that daemon. Everything is stopped and deleted on exit.
#
#   sudo scripts/try.sh                 # interactive shell; type `exit` to stop
#   sudo scripts/try.sh -- COMMAND...   # run one command, e.g. -- behaviorctl status
#
# (In a root shell, without sudo.)
# Root is needed because the daemon reads /dev/input and the bus policy lets only root own
# the daemon's name. Uses target/debug (PROFILE=release: target/release); build first with
# `cargo build --workspace`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

say() { printf 'try: %s\n' "$*" >&2; }

[ "${1:-}" != -- ] || shift
bin=${CARGO_TARGET_DIR:-$root/target}/${PROFILE:-debug}
for f in behaviord behaviorctl libpam_behavior.so; do
    [ -e "$bin/$f" ] || { say "$bin/$f is missing; run: cargo build --workspace"; exit 1; }
done
[ "$(id -u)" -eq 0 ] || { say "needs root (reads /dev/input; owns the bus name): sudo $0 $*"; exit 1; }
command -v dbus-daemon >/dev/null || { say "dbus-daemon is missing: apt-get install dbus"; exit 1; }

dir=$(mktemp -d /tmp/behaviord-try.XXXXXX)
bus_pid= daemon_pid=
cleanup() {
    [ -z "$daemon_pid" ] || kill "$daemon_pid" 2>/dev/null || true
    [ -z "$bus_pid" ] || kill "$bus_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A system-type bus that allows ordinary traffic and includes the shipped policy for
# org.behaviord.Behavior1, so what is tried is what gets installed.
sed -e "s|@SOCKET@|$dir/bus|" \
    -e "s|@INCLUDE@|<include>$root/etc/dbus-1/system.d/org.behaviord.Behavior1.conf</include>|" \
    -e "s|@EXTRA@||" "$root/scripts/private-bus.conf.in" > "$dir/bus.conf"
dbus-daemon --config-file="$dir/bus.conf" --nofork --nopidfile 2>"$dir/bus.log" &
bus_pid=$!
export DBUS_SYSTEM_BUS_ADDRESS=unix:path=$dir/bus
for _ in $(seq 50); do [ -S "$dir/bus" ] && break; sleep 0.1; done
[ -S "$dir/bus" ] || { say "the private dbus-daemon did not start"; exit 1; }

config_args=()
if [ -f "$root/etc/behaviord.toml" ]; then
    cp "$root/etc/behaviord.toml" "$dir/behaviord.toml"
    config_args=(--config "$dir/behaviord.toml")
fi
mkdir -m 0700 "$dir/state"
"$bin/behaviord" "${config_args[@]}" --state-dir "$dir/state" >"$dir/daemon.log" 2>&1 &
daemon_pid=$!

has_owner() {
    dbus-send --system --print-reply=literal --dest=org.freedesktop.DBus /org/freedesktop/DBus \
        org.freedesktop.DBus.NameHasOwner string:org.behaviord.Behavior1 2>/dev/null \
        | grep -q true
}
for _ in $(seq 100); do
    has_owner && break
    kill -0 "$daemon_pid" 2>/dev/null || break
    sleep 0.1
done
if ! has_owner; then
    say "the daemon did not take its bus name; its output:"
    cat "$dir/daemon.log" >&2
    exit 1
fi

# A try is for enrolling whoever sits at the keyboard: typing and PIN enrollment on, in this
# temporary database only.
"$bin/behaviorctl" set enrollment.behavior true >/dev/null
"$bin/behaviorctl" set enrollment.pin true >/dev/null

# A PAM service file for pamtester through pam_wrapper (no change to /etc/pam.d).
mkdir "$dir/pam.d"
# pam_permit stands in for the password that confirms an enrollment (an enrollment is stored
# only once the rest of the stack authenticated the user); the account line commits it.
printf '%s\n' "auth [success=done ignore=ignore default=die] $bin/libpam_behavior.so debug" \
    'auth required pam_permit.so' "account optional $bin/libpam_behavior.so commit" \
    'account required pam_permit.so' > "$dir/pam.d/behavior-try"
# pam_wrapper wants the fallback service too ("no default config other" otherwise).
printf '%s required pam_deny.so\n' auth account password session > "$dir/pam.d/other"
wrapper=$(ls /usr/lib/*/libpam_wrapper.so 2>/dev/null | head -n1 || true)
export PATH="$bin:$PATH"
# Who sits at the keyboard: the user behind sudo, else this one ($USER is unset in some
# root shells).
user=${SUDO_USER:-${USER:-$(id -un)}}

if [ $# -gt 0 ]; then
    "$@"
    exit $?
fi

cat >&2 <<EOF
try: behaviord runs on a private bus (state in $dir/state, log in $dir/daemon.log).
try: in this shell behaviorctl talks to it (enrollment is on), for example:
       behaviorctl status
       behaviorctl users
try: log in through the PAM module with pamtester; the first run enrolls you (type the
     phrase each time it is shown, then set a PIN; pam_permit stands in for your password,
     and the account step stores the enrollment), the next ones verify you:
       LD_PRELOAD=${wrapper:-/usr/lib/<multiarch>/libpam_wrapper.so} PAM_WRAPPER=1 \\
         PAM_WRAPPER_SERVICE_DIR=$dir/pam.d pamtester behavior-try $user authenticate acct_mgmt
try: once enrolled, see how each typing scores against your threshold (nothing counted):
       behaviorctl try
try: type 'exit' to stop the daemon and delete everything.
EOF
# The prompt says which shell this is: "(behaviord try)" before the usual one.
shell=${SHELL:-/bin/bash}
if [ "$(basename "$shell")" = bash ]; then
    printf '%s\n' '[ -f ~/.bashrc ] && . ~/.bashrc' 'PS1="(behaviord try) $PS1"' > "$dir/bashrc"
    "$shell" --rcfile "$dir/bashrc" -i || true
else
    PS1="(behaviord try) ${PS1:-\$ }" "$shell" -i || true
fi
