#!/usr/bin/python3
"""The README's first-service check, end to end on the installed package: pamtester against an
/etc/pam.d service file, the installed pam_behavior.so, the daemon under systemd. Recorded
typings stand in for a keyboard: the daemon runs with --test-input and each typing is
injected through org.behaviord.Test1 when the module shows the phrase, just before the
typed text is sent (as a person's keystrokes would reach it).

    pamtester-e2e.py SERVICE USER SAMPLES.jsonl GENUINE_SUBJECT IMPOSTOR_SUBJECT

Enrolls USER with the genuine subject's typings and a PIN, then logs in as the genuine
subject (accepted), as the impostor (refused) and with a wrong PIN (refused). Prints the
conversations; exits non-zero with the reason on the first surprise.
"""
import json
import os
import select
import subprocess
import sys
import time

PIN = "246802"


def fail(msg, transcript=""):
    print(transcript)
    print(f"pamtester-e2e: FAILED: {msg}", file=sys.stderr)
    sys.exit(1)


def inject(typing):
    args = ["busctl", "call", "org.behaviord.Behavior1", "/org/behaviord/Test",
            "org.behaviord.Test1", "InjectKeys", "a(sdd)", str(len(typing["keys"]))]
    for k in typing["keys"]:
        args += [k["key"], repr(float(k["down"])), repr(float(k["up"]))]
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"InjectKeys: {r.stderr.strip()}")


def login(service, user, typings, pins, operations=("authenticate",)):
    """Runs pamtester, answering each phrase prompt with the next typing (injected, then its
    text) and each PIN prompt with the next PIN. Returns (exit status, transcript)."""
    # As on a virtual console: run from a service, pamtester is in no logind session.
    p = subprocess.Popen(["pamtester", "-I", "tty=tty1", service, user, *operations],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    transcript, pending = "", ""
    typings, pins = list(typings), list(pins)
    deadline = time.monotonic() + 60
    while True:
        ready, _, _ = select.select([p.stdout], [], [], 0.2)
        if ready:
            chunk = os.read(p.stdout.fileno(), 4096).decode()
            if not chunk:
                break
            transcript += chunk
            pending += chunk
        elif time.monotonic() > deadline:
            p.kill()
            fail("pamtester did not finish within 60 s", transcript)
        answer = None
        if f"Type the phrase: {phrase}\nPhrase: " in pending and pending.endswith("Phrase: "):
            if not typings:
                fail("asked for the phrase more often than expected", transcript)
            typing = typings.pop(0)
            inject(typing)
            answer = typing["text"]
        elif pending.endswith("PIN: "):
            if not pins:
                fail("asked for a PIN more often than expected", transcript)
            answer = pins.pop(0)
        if answer is not None:
            p.stdin.write((answer + "\n").encode())
            p.stdin.flush()
            transcript += "<answered>\n"
            pending = ""
    return p.wait(), transcript


def retyped(typing):
    """The same rhythm typed again, one key held 5 ms longer: the daemon refuses an exact
    repeat of a typing it has seen as a replay."""
    t = json.loads(json.dumps(typing))
    t["keys"][0]["up"] += 5.0
    return t


service, user, samples, genuine, impostor = sys.argv[1:6]
with open(samples) as f:
    rows = [json.loads(line) for line in f if line.strip()]
mine = [r for r in rows if r["subject"] == genuine]
other = [r for r in rows if r["subject"] == impostor]
phrase = mine[0]["text"]

print("== enrollment at the first login, committed by the account stack")
status, t = login(service, user, mine[:5], [PIN, PIN], ("authenticate", "acct_mgmt"))
print(t)
for text in ["A typing pattern is displayed. Type the phrase exactly as shown.",
             "Attempt 5 of 5", "Typing pattern registered.", "PIN registered."]:
    if text not in t:
        fail(f"the enrollment did not show {text!r}", t)
if status != 0:
    fail(f"the enrolling login was refused (status {status})", t)

print("== the genuine typist with the right PIN")
status, t = login(service, user, mine[13:16], [PIN])
print(t)
if status != 0 or "successfully authenticated" not in t:
    fail(f"the genuine typist was refused (status {status})", t)

print("== an impostor typing the phrase")
status, t = login(service, user, other[:5], [PIN])
print(t)
if status == 0 or "Incorrect pattern. Please try again." not in t:
    fail(f"the impostor was not refused as documented (status {status})", t)

subprocess.run(["behaviorctl", "reset-lockout", user], check=True, capture_output=True)
print("== the genuine typist with a wrong PIN")
status, t = login(service, user, [retyped(x) for x in mine[13:16]], ["000000"] * 5)
print(t)
if status == 0 or "Incorrect PIN. Please try again." not in t:
    fail(f"a wrong PIN was not refused as documented (status {status})", t)
print("PAMTESTER E2E OK")
