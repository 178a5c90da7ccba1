#!/usr/bin/env bash
# The README's first command: installs the build dependencies (and pamtester, for the
# README's first try), builds behaviord, packages it as a .deb, installs the package and
# starts the daemon. Debian 12 / Ubuntu.
#
# Run it as yourself (the root steps go through sudo) or as root. PROFILE=debug builds a debug
# build instead of the release one (for trying the script quickly).
set -euo pipefail
cd "$(dirname "$0")/.."
# Services and `env -i` may run without HOME; rustup and cargo live under it.
: "${HOME:=$(getent passwd "$(id -u)" | cut -d: -f6)}"
export HOME

say() { printf 'behaviord: %s\n' "$*" >&2; }

if [ "$(id -u)" -eq 0 ]; then
    as_root() { "$@"; }
elif command -v sudo >/dev/null 2>&1; then
    as_root() { sudo "$@"; }
else
    say "installing needs root: run this script as root (sudo is not installed)"
    exit 1
fi

as_root scripts/deps.sh --install
scripts/deps.sh --toolchain
export PATH="$HOME/.cargo/bin:$PATH"

profile=${PROFILE:-release}
say "building ($profile)"
make --no-print-directory build PROFILE="$profile" >&2
deb=$(make --no-print-directory deb PROFILE="$profile" | tail -n1)
say "installing $deb"
# apt-get rather than dpkg -i: it also installs what the package depends on (the system bus).
# Its messages are kept back unless it fails; whether the daemon runs is said below.
as_root scripts/deps.sh --deb "$deb"

if [ -d /run/systemd/system ]; then
    # The package's postinst enabled and started the unit.
    if systemctl is-active --quiet behaviord.service; then
        say "installed; the daemon is running (systemctl status behaviord)"
    else
        say "installed, but the daemon is not running; see: journalctl -u behaviord -n 50"
        exit 1
    fi
else
    cat >&2 <<'EOF'
behaviord: installed. systemd is not running here (a container?), so nothing started the
daemon. Start it by hand, as root (it starts the system bus too when that is not
answering; stop and restart work the same way):

    /usr/lib/behaviord/daemon.sh start

EOF
fi
cat >&2 <<'EOF'
behaviord: next: enable it for one service (README: "Enable it for one service first"),
then enroll users. Nothing in /etc/pam.d uses it yet.
EOF
