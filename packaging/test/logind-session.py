#!/usr/bin/python3
"""Runs a command inside a logind session that pam_systemd opens for root, with the PAM items
given: logind-session.py RHOST TTY COMMAND... (an empty RHOST sets none). With a remote host,
logind records the session as remote, as it does for sshd's."""
import ctypes
import os
import subprocess
import sys

PAM_TTY, PAM_RHOST, PAM_CONV_ERR = 3, 4, 19
rhost, tty, command = sys.argv[1], sys.argv[2], sys.argv[3:]
pam = ctypes.CDLL("libpam.so.0")
pam.pam_getenv.restype = ctypes.c_char_p
CONV = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p,
                        ctypes.c_void_p)


class PamConv(ctypes.Structure):
    _fields_ = [("conv", CONV), ("appdata", ctypes.c_void_p)]


conv = PamConv(CONV(lambda n, msg, resp, data: PAM_CONV_ERR), None)
handle = ctypes.c_void_p()
if pam.pam_start(b"behaviord-session", b"root", ctypes.byref(conv), ctypes.byref(handle)):
    sys.exit("logind-session: pam_start failed")
if rhost:
    pam.pam_set_item(handle, PAM_RHOST, rhost.encode())
pam.pam_set_item(handle, PAM_TTY, tty.encode())
if pam.pam_open_session(handle, 0):
    sys.exit("logind-session: pam_open_session failed")
env = dict(os.environ)
session = pam.pam_getenv(handle, b"XDG_SESSION_ID")
if session:
    env["XDG_SESSION_ID"] = session.decode()
rc = subprocess.run(command, env=env).returncode
pam.pam_close_session(handle, 0)
pam.pam_end(handle, 0)
sys.exit(rc)
