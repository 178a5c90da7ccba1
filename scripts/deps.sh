#!/usr/bin/env bash
# Installs what behaviord needs, on Debian 12 / Ubuntu. Idempotent: asks only for what is
# missing.
#   --build   Debian packages to build and package it (root, or prints the apt-get command)
#   --install those plus pamtester, which the README's first try uses (scripts/install.sh)
#   --test    those plus the packages the test suite uses, and the test VM's kernel: Debian's
#             linux-image-6.1 package (about 70 MB) into target/vm-cache, once
#   --deb F   installs the package file F with apt-get (and what it depends on); root
#   --toolchain  a Rust toolchain for the calling user (rustup into ~/.cargo) when `cargo`
#             is missing or older than the workspace's rust-version; no root needed
#   --rust    that toolchain and the test runner cargo-nextest (cargo install) when missing
set -euo pipefail
cd "$(dirname "$0")/.."
# Services and `env -i` may run without HOME; rustup and cargo live under it.
: "${HOME:=$(getent passwd "$(id -u)" | cut -d: -f6)}"
export HOME

build_pkgs=(gcc make pkg-config libpam0g-dev dpkg-dev binutils curl ca-certificates)
test_pkgs=(libpam-wrapper pamtester dbus python3-dbusmock python3-pypamtest
           qemu-system-x86 busybox-static cpio kmod fakeroot
           man-db groff-base systemd libpam-systemd util-linux lintian iproute2 procps)

ensure_rust() {
    local need have
    need=$(sed -n 's/^rust-version *= *"\(.*\)"/\1/p' Cargo.toml | head -n1)
    export PATH="$HOME/.cargo/bin:$PATH"
    if command -v cargo >/dev/null 2>&1; then
        have=$(rustc --version | awk '{print $2}')
        if [ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -n1)" = "$need" ]; then
            return 0
        fi
        if command -v rustup >/dev/null 2>&1; then
            echo "behaviord: Rust $have is older than $need; updating the stable toolchain" >&2
            rustup update stable
            return 0
        fi
        echo "behaviord: Rust $have is older than $need and was not installed by rustup;" \
             "install Rust $need or newer (https://rustup.rs)" >&2
        exit 1
    fi
    command -v curl >/dev/null 2>&1 || {
        echo "behaviord: need curl to install Rust; run: scripts/deps.sh --build as root" >&2
        exit 1
    }
    echo "behaviord: installing the Rust toolchain with rustup into $HOME/.cargo" >&2
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs \
        | sh -s -- -y --profile minimal --default-toolchain stable -c clippy -c rustfmt >&2
}

# The test runner of scripts/test.sh (per-test deadlines, no retries).
ensure_nextest() {
    export PATH="$HOME/.cargo/bin:$PATH"
    cargo nextest --version >/dev/null 2>&1 && return 0
    echo "behaviord: installing the test runner cargo-nextest into $HOME/.cargo/bin" >&2
    cargo install --locked cargo-nextest >&2
}

# Runs apt-get (as root) with its and debconf's chatter ("delaying package configuration,
# since apt-utils is not installed") kept back, shown only when it fails.
apt_quietly() {  # what command...
    local what=$1 log
    shift
    export DEBIAN_FRONTEND=noninteractive
    log=$(mktemp)
    if ! "$@" >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        echo "behaviord: $what failed (apt's output above)" >&2
        exit 1
    fi
    rm -f "$log"
}

want=("${build_pkgs[@]}")
vm_kernel=false
case "${1:---build}" in
  --build) ;;
  --install) want+=(pamtester) ;;
  --test) want+=("${test_pkgs[@]}"); vm_kernel=true ;;
  --toolchain) ensure_rust; exit 0 ;;
  --rust) ensure_rust; ensure_nextest; exit 0 ;;
  --deb)
    [ -f "${2:-}" ] || { echo "usage: $0 --deb FILE.deb" >&2; exit 2; }
    apt_quietly "installing $2" apt-get install -y -q --reinstall --no-install-recommends "$(realpath "$2")"
    exit 0 ;;
  *) echo "usage: $0 [--build|--install|--test|--toolchain|--rust|--deb FILE]" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "behaviord: missing packages: ${missing[*]}; run as root or: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
  echo "behaviord: installing ${missing[*]}" >&2
  apt_quietly "apt-get update" apt-get update -qq
  apt_quietly "installing ${missing[*]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# The tests run offline: the VM's kernel is fetched now, when missing.
if $vm_kernel; then
  tests/vm/run.sh --fetch
fi
