#!/usr/bin/env bash
# Installs the Debian packages behaviord needs to build (--build) or to build and run its
# whole test suite (--test). Idempotent: asks apt only for what is missing.
set -euo pipefail

build_pkgs=(gcc pkg-config libpam0g-dev)
test_pkgs=(libpam-wrapper pamtester dbus python3-dbusmock python3-pypamtest
           qemu-system-x86 busybox-static cpio kmod dpkg-dev fakeroot)

want=("${build_pkgs[@]}")
case "${1:---build}" in
  --build) ;;
  --test) want+=("${test_pkgs[@]}") ;;
  *) echo "usage: $0 [--build|--test]" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "behaviord: missing packages: ${missing[*]}; run as root or: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "behaviord: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
