"""The folder lock held against another process."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from dart_hf import outputs
from dart_hf.errors import DartError


def _try_lock(folder: str, queue: multiprocessing.Queue) -> None:
    try:
        with outputs.folder_lock(folder, "build"):
            queue.put("locked")
    except DartError as exc:
        queue.put(str(exc))


def test_the_lock_refuses_a_second_holder(tmp_path: Path) -> None:
    with outputs.folder_lock(tmp_path / "run", "build") as out:
        assert out == tmp_path / "run"
        # (reading the lock file here would drop the lock: POSIX locks end at any close)
        again = outputs.folder_lock(tmp_path / "run", "sample")
        with pytest.raises(DartError, match="already in use by this process"), again:
            pass
        ctx = multiprocessing.get_context("spawn")
        queue = ctx.Queue()
        proc = ctx.Process(target=_try_lock, args=(str(out), queue))
        proc.start()
        proc.join(60)
        message = queue.get(timeout=5)
        assert "is in use by another run (pid " in message and ", dart-hf build, " in message
    info = json.loads((tmp_path / "run" / outputs.LOCK_FILE).read_text(encoding="utf-8"))
    assert info["command"] == "build" and info["pid"] > 0
    with outputs.folder_lock(tmp_path / "run", "build"):  # released
        pass
