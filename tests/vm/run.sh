#!/usr/bin/env bash
# Runs one command as root inside a small VM with real kernel input devices (evdev, uinput),
# for tests that must exercise the real evdev reading code (the host kernel has no uinput).
#
#   tests/vm/run.sh /abs/path/to/program [args...]
#   tests/vm/run.sh --fetch      download the kernel into the cache (scripts/deps.sh --test
#                                does this); needs network, never done during a run
#
# The VM boots Debian's own 6.1 kernel (fetched once with `apt-get download`) with a busybox
# initramfs, shares the host's root file system read-only over 9p with a tmpfs overlay on top,
# and runs the program there (so host binaries run unchanged). Its output is printed; the
# script exits with the program's status, or 3 when the VM did not get that far.
#
# Cache: $BEHAVIORD_VM_CACHE, default target/vm-cache (kernel, modules, initramfs); a second run
# only boots. Environment: BEHAVIORD_VM_ACCEL (kvm, tcg, or auto: KVM if a trial boot works,
# cached in the cache folder), BEHAVIORD_VM_TIMEOUT (seconds, default 300).
set -euo pipefail

die() { echo "vm: $*" >&2; exit 3; }

[ $# -ge 1 ] || die "usage: $0 /abs/path/to/program [args...] | --fetch"
fetch=false
if [ "$1" = --fetch ]; then
  fetch=true
else
  case "$1" in /*) ;; *) die "the program must be an absolute path (it runs from the shared host root)";; esac
  [ -x "$1" ] || die "$1 is not an executable file"
fi

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${BEHAVIORD_VM_CACHE:-${CARGO_TARGET_DIR:-$root/target}/vm-cache}
accel=${BEHAVIORD_VM_ACCEL:-auto}
timeout_s=${BEHAVIORD_VM_TIMEOUT:-300}

tools="cpio gzip depmod"
$fetch || tools="qemu-system-x86_64 $tools"
for tool in $tools; do
  command -v "$tool" >/dev/null || die "$tool is missing: run scripts/deps.sh --test (Debian packages qemu-system-x86, cpio, kmod)"
done
busybox=/bin/busybox
[ -x "$busybox" ] && "$busybox" --list >/dev/null 2>&1 || die "$busybox is missing: install busybox-static"
ldd "$busybox" >/dev/null 2>&1 && die "$busybox is dynamically linked: install busybox-static"

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9  # concurrent test runs share the cache

# Modules the guest loads (their dependencies come along).
modules="virtio_pci 9pnet_virtio 9p overlay evdev uinput"

# 1. Debian's kernel and the modules the guest needs, extracted from the .deb once (with
#    --fetch only: a test run never downloads); the rest of the package (400 MB) is not kept.
if [ "$(cat "$cache/kernel/ok" 2>/dev/null)" != "$modules" ]; then
  $fetch || die "the VM's kernel is not in $cache: fetch it first, with network, by" \
    "scripts/deps.sh --test or tests/vm/run.sh --fetch (one download of Debian's" \
    "linux-image-6.1 package, about 70 MB; BEHAVIORD_VM_CACHE chooses another cache)"
  command -v apt-get >/dev/null || die "apt-get is missing: the VM kernel comes from Debian's archive"
  kernel_pkg() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-6\.1/ {print $2; exit}'; }
  pkg=$(kernel_pkg)
  # A machine whose packages were all installed may never have fetched the package lists.
  if [ -z "$pkg" ] && [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq >&2 || true
    pkg=$(kernel_pkg)
  fi
  [ -n "$pkg" ] || die "apt-cache knows no linux-image-6.1 package (Debian 12 apt sources needed; try apt-get update)"
  rm -rf "$cache/kernel" "$cache/kernel.tmp" "$cache/dl" && mkdir -p "$cache/dl" "$cache/kernel.tmp/ko"
  # As root, apt would hand the download to its _apt user, who cannot write here.
  sandbox=(); [ "$(id -u)" -eq 0 ] && sandbox=(-o APT::Sandbox::User=root)
  (cd "$cache/dl" && apt-get download -q "${sandbox[@]}" "$pkg" >&2) || die "apt-get download $pkg failed"
  deb="$cache/dl/deb"
  dpkg -x "$cache"/dl/*.deb "$deb"
  kver=$(ls "$deb/lib/modules")
  depmod -b "$deb" "$kver"
  mods="$deb/lib/modules/$kver"
  order=()
  add_module() {  # $1: module path relative to $mods; dependencies first
    local m=$1 dep seen
    for seen in "${order[@]}"; do [ "$seen" = "$m" ] && return 0; done
    for dep in $(awk -v m="$m:" '$1 == m { $1 = ""; print }' "$mods/modules.dep"); do
      add_module "$dep"
    done
    order+=("$m")
  }
  for name in $modules; do
    path=$(awk -F: -v n="/$name.ko" 'substr($1, length($1) - length(n) + 1) == n { print $1; exit }' "$mods/modules.dep")
    [ -n "$path" ] || die "module $name not found in $kver"
    add_module "$path"
  done
  for m in "${order[@]}"; do
    cp "$mods/$m" "$cache/kernel.tmp/ko/"
    basename "$m" >>"$cache/kernel.tmp/ko/order"
  done
  cp "$deb/boot/vmlinuz-$kver" "$cache/kernel.tmp/vmlinuz"
  echo "$kver" >"$cache/kernel.tmp/version"
  echo "$modules" >"$cache/kernel.tmp/ok"
  rm -rf "$cache/dl"
  mv "$cache/kernel.tmp" "$cache/kernel"
fi
kver=$(cat "$cache/kernel/version")
if $fetch; then
  echo "vm: Linux $kver for the test VM is in $cache" >&2
  exit 0
fi

# 2. The initramfs: busybox, /init, and the modules in load order. Rebuilt when the kernel or
#    these scripts change.
stamp="$kver $(sha256sum "$here/run.sh" "$here/init.sh" | sha256sum | cut -c1-16)"
if [ ! -f "$cache/initrd.gz" ] || [ "$(cat "$cache/initrd.stamp" 2>/dev/null)" != "$stamp" ]; then
  stage="$cache/initrd.stage"
  rm -rf "$stage" && mkdir -p "$stage/bin"
  cp "$busybox" "$stage/bin/busybox"
  cp "$here/init.sh" "$stage/init"
  chmod 755 "$stage/init"
  cp -r "$cache/kernel/ko" "$stage/modules"
  (cd "$stage" && find . | cpio -o -H newc --quiet | gzip -1) >"$cache/initrd.gz.tmp"
  rm -rf "$stage"
  mv "$cache/initrd.gz.tmp" "$cache/initrd.gz"
  echo "$stamp" >"$cache/initrd.stamp"
fi
flock -u 9

# 3. Boot. The command reaches the guest as a script in a host temporary directory, which the
#    guest sees through the shared root.
job=$(mktemp -d /tmp/behaviord-vm.XXXXXX)
trap 'rm -rf "$job"' EXIT
chmod 755 "$job"
{
  echo 'export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root'
  printf 'cd %q\n' "$PWD"
  printf 'exec'; printf ' %q' "$@"; echo
} >"$job/cmd.sh"

boot() {  # accel timeout script: boots the VM running script, output on stdout
  local accel_args
  case "$1" in
    kvm) accel_args=(-enable-kvm -cpu host) ;;
    tcg) accel_args=(-accel tcg) ;;
    *) die "unknown accelerator $1 (kvm, tcg or auto)" ;;
  esac
  timeout --foreground "$2" qemu-system-x86_64 "${accel_args[@]}" -m 512 -smp 1 \
    -nographic -no-reboot -net none -monitor none -serial stdio \
    -kernel "$cache/kernel/vmlinuz" -initrd "$cache/initrd.gz" \
    -append "console=ttyS0 panic=-1 quiet loglevel=3 vmrun=$3" \
    -virtfs local,path=/,mount_tag=hostroot,security_model=passthrough,readonly=on,multidevs=remap \
    </dev/null 2>&1
}

# KVM when it boots this kernel (on some hosts it aborts or hangs), else software emulation;
# the verdict is cached.
if [ "$accel" = auto ]; then
  if [ -f "$cache/accel" ]; then
    accel=$(cat "$cache/accel")
  elif [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
    echo 'exit 0' >"$job/true.sh"
    if boot kvm 30 "$job/true.sh" | tr -d '\r' | grep -q '^VMRUN-EXIT 0$'; then
      accel=kvm
    else
      accel=tcg
    fi
    echo "$accel" >"$cache/accel"
  else
    accel=tcg
  fi
fi
echo "vm: booting Linux $kver ($accel)" >&2

set +e
boot "$accel" "$timeout_s" "$job/cmd.sh" | tee "$job/out" | tr -d '\r'
qemu_status=${PIPESTATUS[0]}
set -e
status=$(tr -d '\r' <"$job/out" | sed -n 's/^VMRUN-EXIT \([0-9]*\)$/\1/p' | tail -1)
if [ -z "$status" ]; then
  [ "$qemu_status" = 124 ] && die "the VM timed out after ${timeout_s}s"
  die "the VM stopped before the program finished (qemu status $qemu_status)"
fi
exit "$status"
