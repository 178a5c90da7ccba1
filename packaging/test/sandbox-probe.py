#!/usr/bin/python3
"""Runs in place of behaviord inside behaviord.service's sandbox (systemd-checks.sh swaps
ExecStart= with a drop-in and keeps every other setting) and checks what the daemon can and
cannot do there. Writes one line per check, "ok NAME" or "FAIL NAME: detail", to
/var/lib/behaviord/probe.out (the only writable place) and exits 0.
"""
import errno
import os
import socket
import subprocess

results = []


def check(name, ok, detail=""):
    results.append(f"ok {name}" if ok else f"FAIL {name}: {detail}")


def open_errno(path, flags):
    """0 when the open succeeds, else its errno."""
    try:
        os.close(os.open(path, flags))
        return 0
    except OSError as e:
        return e.errno


def status_field(name):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(name + ":"):
                return line.split()[1]
    return None


check("runs as root", os.getuid() == 0, f"uid {os.getuid()}")
check("no capabilities", int(status_field("CapEff"), 16) == 0, status_field("CapEff"))
check("no capabilities to regain", int(status_field("CapBnd"), 16) == 0, status_field("CapBnd"))
check("no new privileges", status_field("NoNewPrivs") == "1", status_field("NoNewPrivs"))

# File system: only the state directory is writable; homes are out of sight.
try:
    with open("/var/lib/behaviord/probe.tmp", "w") as f:
        f.write("x")
    os.unlink("/var/lib/behaviord/probe.tmp")
    check("state directory writable", True)
except OSError as e:
    check("state directory writable", False, str(e))
st = os.stat("/var/lib/behaviord")
check("state directory mode 0700", st.st_mode & 0o777 == 0o700, oct(st.st_mode & 0o777))
for path in ["/etc/behaviord-probe", "/usr/behaviord-probe", "/var/behaviord-probe", "/root/behaviord-probe"]:
    e = open_errno(path, os.O_WRONLY | os.O_CREAT)
    if e == 0:
        os.unlink(path)
    check(f"{os.path.dirname(path)} read-only", e in (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOENT),
          os.strerror(e) if e else "writable")
try:
    homes = os.listdir("/home")
except OSError:
    homes = []
check("no home directories", homes == [], "/home lists " + " ".join(homes))

# Devices: input devices readable (the driver answers ENODEV when no device is behind the
# node; the device policy would answer EPERM), not writable; other devices refused.
e = open_errno("/dev/input/event0", os.O_RDONLY)
check("input device readable", e != errno.EPERM, "EPERM: refused by the device policy")
e = open_errno("/dev/input/event0", os.O_RDWR)
check("input device not writable", e == errno.EPERM, os.strerror(e) if e else "opened read-write")
if os.path.exists("/dev/loop0"):
    e = open_errno("/dev/loop0", os.O_RDONLY)
    check("block devices refused", e == errno.EPERM, os.strerror(e) if e else "opened /dev/loop0")
check("/dev/null usable", open_errno("/dev/null", os.O_RDWR) == 0)

# Network: local sockets only, and no interface but loopback.
try:
    socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()
    check("no internet sockets", False, "AF_INET socket created")
except OSError as e:
    check("no internet sockets", e.errno in (errno.EAFNOSUPPORT, errno.EPERM), str(e))
try:
    socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).close()
    check("unix sockets allowed", True)
except OSError as e:
    check("unix sockets allowed", False, str(e))
# /proc/self/net follows this process's network namespace (/sys/class/net would show the
# namespace that mounted /sys).
with open("/proc/self/net/dev") as f:
    interfaces = sorted(line.split(":")[0].strip() for line in f.readlines()[2:])
check("private network", interfaces in ([], ["lo"]), " ".join(interfaces))

# Kernel: tunables read-only.
e = open_errno("/proc/sys/kernel/hostname", os.O_WRONLY)
check("kernel tunables read-only", e != 0, "opened /proc/sys/kernel/hostname for writing")

# Session monitoring locks and ends sessions through logind, whose privileged methods check
# the caller's capabilities or uid; the daemon has no capabilities, so its uid must do.
if os.environ.get("PROBE_LOGIND") == "1":
    r = subprocess.run(
        ["busctl", "call", "org.freedesktop.login1", "/org/freedesktop/login1",
         "org.freedesktop.login1.Manager", "LockSessions"],
        capture_output=True, text=True)
    check("logind accepts lock requests", r.returncode == 0, r.stderr.strip())

with open("/var/lib/behaviord/probe.out", "w") as f:
    f.write("\n".join(results) + "\n")
