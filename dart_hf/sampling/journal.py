"""The per-shard journal: completions written as they finish, so a kill loses none.

A streamed round sends one request per (query id, round, sample_idx); each completion is
appended to its shard's journal (`SamplingFolder.journal(k)`, JSON lines, flushed) the moment
it arrives. A rerun reads the journal back, de-duplicated by key (the first line wins; a line
cut short by a kill is ignored), and requests only what is missing; the shard file is
assembled from the journal once every request of the shard has its line, and the journal is
then removed. The journal is the one file the sampling stage writes as it goes
(docs/DESIGN.md, sampling).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, TextIO

from dart_hf import outputs
from dart_hf.engines.base import Completion

logger = logging.getLogger(__name__)

Key = tuple[str, int, int]
"""(query id, round, sample_idx)."""


class Journal:
    """One shard's journal (append-only JSON lines, keyed by (id, round, sample_idx))."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: TextIO | None = None

    def read(self) -> dict[Key, Completion]:
        """Every completion written so far, de-duplicated by key (the first wins)."""
        done: dict[Key, Completion] = {}
        if not self.path.is_file():
            return done
        bad = 0
        with open(self.path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if not line.endswith("\n"):  # cut short by a kill: its request is sent again
                    break
                try:
                    row = json.loads(line)
                    key = (str(row["id"]), int(row["round"]), int(row["sample_idx"]))
                    comp = Completion(
                        str(row["response"]),
                        str(row["finish_reason"]),
                        int(row["n_tokens"]),
                        row.get("error"),
                    )
                except (ValueError, KeyError, TypeError):
                    bad += 1
                    continue
                done.setdefault(key, comp)
        if bad:
            logger.warning("%s: %d unreadable lines skipped (sent again)", self.path, bad)
        return done

    def _handle(self) -> TextIO:
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - held across writes
            if fh.tell() > 0:  # end a line a kill cut short, so the next starts on its own
                with open(self.path, "rb") as raw:
                    raw.seek(-1, os.SEEK_END)
                    if raw.read(1) != b"\n":
                        fh.write("\n")
            self._fh = fh
        return self._fh

    def write(self, key: Key, comp: Completion) -> None:
        """Append one completion (flushed to the OS: a kill of the process keeps it)."""
        row: dict[str, Any] = {
            "id": key[0],
            "round": key[1],
            "sample_idx": key[2],
            "response": comp.text,
            "finish_reason": comp.finish_reason,
            "n_tokens": comp.n_tokens,
        }
        if comp.error is not None:
            row["error"] = comp.error
        with outputs.disk_full(self.path):
            fh = self._handle()
            fh.write(json.dumps(row) + "\n")
            fh.flush()

    def close(self) -> None:
        """Close the file (it stays until `remove`)."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def remove(self) -> None:
        """Remove the journal (its shard file is written)."""
        self.close()
        self.path.unlink(missing_ok=True)
