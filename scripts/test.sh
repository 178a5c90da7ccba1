#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit and end-to-end tests.
# Installs the Debian packages the tests use when they are missing (needs root then).
# Tests run under cargo nextest (.config/nextest.toml): each in its own process, none
# retried, a hung one killed and named after its deadline, a summary at the end.
#
# Everything that downloads (Debian packages, the VM's kernel package, crates) happens
# first. As root, the tests then run in a new network namespace (`unshare -n`): no network,
# which proves the run is offline, and net.unix.max_dgram_qlen at the kernel's default of
# 10, the condition under which a blocking syslog sender once hung the daemon.
set -euo pipefail
cd "$(dirname "$0")/.."
# Some tests run the built files as the user nobody (a setuid copy, an untrusted daemon):
# the checkout must be reachable by others, which a clone in root's 0700 home is not.
if [ "$(id -u)" -eq 0 ] && ! setpriv --reuid=nobody --regid=nogroup --clear-groups test -r "$PWD/Cargo.toml"; then
    echo "behaviord: the user nobody cannot read $PWD, and some tests run as nobody: clone" \
         "the project where others may enter (not a 0700 home such as /root), or give its" \
         "parent directories o+x" >&2
    exit 1
fi
scripts/deps.sh --test
scripts/deps.sh --rust
export PATH="$HOME/.cargo/bin:$PATH"
cargo fetch --locked
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# End-to-end tests run the built daemon, CLI and PAM module.
cargo build --workspace --locked
# No doctests: the only code blocks in doc comments are JSON examples. Add
# `cargo test --doc --workspace --locked` here when a Rust one appears.
tests=(cargo nextest run --workspace --locked --offline)
if [ "$(id -u)" -eq 0 ] && unshare -n true 2>/dev/null; then
    tests=(unshare -n sh -c 'ip link set lo up &&
        echo "behaviord: testing offline in a new network namespace (unshare -n):" \
             "net.unix.max_dgram_qlen=$(sysctl -n net.unix.max_dgram_qlen), interfaces: $(ip -o link show | cut -d: -f2 | tr -d " " | tr "\n" " ")" &&
        exec "$@"' sh "${tests[@]}")
else
    echo "behaviord: testing in this network namespace (not root, or unshare -n does not work here)"
fi
if "${tests[@]}"; then
    echo "behaviord: test suite passed"
else
    echo "behaviord: test suite FAILED (the failing and killed tests are listed above)" >&2
    exit 1
fi
