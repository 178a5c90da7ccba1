#!/usr/bin/python3
"""Types a subject's sentences into behaviord through org.behaviord.Test1, one after another,
until the daemon's database holds the event NAME (or the sentences run out):
inject-until.py SAMPLES.jsonl SUBJECT DB NAME. Prints how many sentences it typed."""
import json
import sqlite3
import sys
import time

import dbus

samples, subject, db, name = sys.argv[1:5]
test = dbus.Interface(dbus.SystemBus().get_object("org.behaviord.Behavior1", "/org/behaviord/Test"),
                      "org.behaviord.Test1")


def seen():
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return con.execute("SELECT count(*) FROM events WHERE name = ?", (name,)).fetchone()[0] > 0
    finally:
        con.close()


typed = 0
for line in open(samples):
    s = json.loads(line)
    if s["subject"] != subject:
        continue
    test.InjectKeys(dbus.Array([(k["key"], float(k["down"]), float(k["up"])) for k in s["keys"]],
                               signature="(sdd)"))
    typed += 1
    if seen():
        break
# The monitor acts after the keys: give it a moment (a lock that does not hold takes 3 s).
deadline = time.monotonic() + 10
while not seen() and time.monotonic() < deadline:
    time.sleep(0.1)
print(f"typed {typed} sentences; {name} {'recorded' if seen() else 'never recorded'}")
