"""Run at interpreter start by a Python process whose PYTHONPATH holds this folder.

`dart_hf.engines.lifetime.spawned_children_die_with_parent` puts the folder on PYTHONPATH while
an engine starts, so the processes that engine spawns (vLLM's `EngineCore`, and the workers
that one spawns in turn) ask the kernel for SIGKILL when their parent dies, before they import
anything: a `kill -9` of the command then ends them even when the watchdog is gone too.

Only multiprocessing's spawned children ask (their command line ends in
`--multiprocessing-fork`): its resource tracker must outlive the command to clean up after it.
Another `sitecustomize` further on the path still runs. Standard library only; a no-op unless
`DART_HF_DIE_WITH_PARENT` names another process (the command that set it).
"""

from __future__ import annotations

import os
import sys


def _ask_for_parent_death_signal() -> None:
    owner = os.environ.get("DART_HF_DIE_WITH_PARENT", "")
    argv = getattr(sys, "orig_argv", None) or []
    if not owner.isdigit() or int(owner) == os.getpid() or "--multiprocessing-fork" not in argv:
        return
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    try:
        os.kill(int(owner), 0)
    except ProcessLookupError:  # the command died before the request took effect
        os._exit(1)
    except OSError:
        pass


def _chain() -> None:
    """Run the next `sitecustomize` on the path, as if this one were not there."""
    import importlib.machinery
    import importlib.util

    here = os.path.dirname(os.path.abspath(__file__))
    rest = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is None or spec.loader is None or spec.origin == os.path.abspath(__file__):
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["sitecustomize"] = module
    spec.loader.exec_module(module)


_ask_for_parent_death_signal()
_chain()
