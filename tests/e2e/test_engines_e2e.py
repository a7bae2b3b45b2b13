"""Engine lifetime without an engine: the watchdog ends what a killed command left."""

from __future__ import annotations

import sys

from helpers import alive as _alive
from helpers import descendants as _descendants

WATCHED = """
import subprocess, sys, time
from dart_hf.engines import lifetime
lifetime.die_with_parent()
child = ("import subprocess, sys, time; "
         "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(90)']); time.sleep(90)")
subprocess.Popen([sys.executable, "-c", child], start_new_session=True)
print("ready", flush=True)
time.sleep(90)
"""


def test_watchdog_ends_what_a_killed_command_left(tmp_path) -> None:
    """Without an engine: the command's child (in its own session, as a spawned engine that a
    group kill would miss) and grandchild end within 10 s of `kill -9` of the command."""
    import os
    import signal
    import subprocess
    import time

    run = subprocess.Popen([sys.executable, "-c", WATCHED], stdout=subprocess.PIPE, text=True)
    assert run.stdout is not None and run.stdout.readline().strip() == "ready"
    deadline = time.time() + 10
    while time.time() < deadline and len(_descendants(run.pid)) < 3:  # watchdog + 2
        time.sleep(0.1)
    tree = _descendants(run.pid)
    assert sum("lifetime.py" in c for c in tree.values()) == 1, tree
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    until = time.time() + 10
    while _alive(list(tree)) and time.time() < until:
        time.sleep(0.2)
    left = _alive(list(tree))
    for p in left:
        os.kill(p, signal.SIGKILL)
    assert not left, {p: tree[p] for p in left}
