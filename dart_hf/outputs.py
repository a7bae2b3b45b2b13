"""Output folders: one settings guard, one lock, staged folders and disk-full errors.

Every command that writes a resumable folder (`build`, `sample`, `eval`) goes through here:

- `check_fingerprint`: a folder records what made it (settings, grader, a content hash of the
  queries and of their gold answers); a rerun with anything else is refused with the names of
  what differs and the remedy. A record whose run finished no work yet is replaced, so a
  command that failed early does not block the corrected one.
- `folder_lock`: one run per folder. A POSIX record lock (`fcntl.lockf`) on a file opened with
  `O_CLOEXEC`: the kernel drops it when the process dies, even by `kill -9`, and children
  (engine processes forked by vLLM) never own it, so orphans cannot keep a folder busy.
- `replace_folder`: releases are staged beside their final place and renamed in, so a killed
  run leaves a release complete or absent.
- `disk_full`: ENOSPC/EDQUOT become a one-line `DartError` naming the path, and temporary
  files of the failed write are removed.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import socket
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from dart_hf.errors import DartError

logger = logging.getLogger(__name__)

LOCK_FILE = ".dart-hf.lock"
GOLD_COLUMNS = (
    "answer",
    "answers",
    "answer_type",
    "multi_answer",
    "unit",
    "tolerance",
    "solution",
)
"""What the grader reads as a query's gold answer, and the reference solution it comes from
(a GSM8K solution ends in its gold): a change here is "the gold answers changed"."""

NOTES = {
    "grader": "the grader changed since this folder was made",
    "data.queries_hash": "the queries changed",
    "data.gold_hash": "the gold answers changed",
    "data.queries": "the number of queries changed",
    "queries_hash": "the queries changed",
}
"""Why a fingerprint key matters, said next to its name in a refusal."""


# --------------------------------------------------------------------------- fingerprints


def content_hash(ds: Any, columns: Sequence[str] | None = None) -> str:
    """SHA-256 of the rows of a `datasets.Dataset` (these columns, in row order).

    Read in batches, so a large pool is hashed without holding it as Python objects.
    """
    wanted = ds.column_names if columns is None else columns
    cols = [c for c in wanted if c in ds.column_names]
    digest = hashlib.sha256(json.dumps(cols).encode())
    if not cols or len(ds) == 0:
        return digest.hexdigest()
    part = ds.select_columns(cols)
    for start in range(0, len(part), 10_000):
        rows = part[start : start + 10_000]
        digest.update(json.dumps(rows, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def data_fingerprint(ds: Any) -> dict[str, Any]:
    """What a folder records of its queries: count, content hash, gold-answer hash."""
    other = [c for c in ds.column_names if c not in GOLD_COLUMNS]
    return {
        "queries": len(ds),
        "queries_hash": content_hash(ds, other),
        "gold_hash": content_hash(ds, [c for c in GOLD_COLUMNS if c in ds.column_names]),
    }


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in d.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(_flatten(value, name + "."))
        else:
            out[name] = value
    return out


def _show(value: Any, width: int = 48) -> str:
    """A value as JSON, cut in the middle when long (a path's end is what tells two apart)."""
    text = json.dumps(value, default=str)
    if len(text) <= width:
        return text
    half = (width - 3) // 2
    return f"{text[:half]}...{text[-half:]}"


def fingerprint_diff(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What differs between two records, one `key: old -> new (why)` per setting."""
    a, b = _flatten(old), _flatten(new)
    out = []
    for key in sorted(set(a) | set(b)):
        if a.get(key, "<unset>") == b.get(key, "<unset>"):
            continue
        if key.endswith("_hash"):
            change = "changed"
        else:
            change = f"{_show(a.get(key, '<unset>'))} -> {_show(b.get(key, '<unset>'))}"
        why = next((NOTES[p] for p in (key, key.split(".")[0]) if p in NOTES), None)
        shown = key.removeprefix("settings.")  # a setting goes by its own name
        out.append(f"{shown} {change}" + (f" ({why})" if why else ""))
    return out


def _within(keys: Iterable[str], prefixes: Iterable[str]) -> bool:
    prefixes = tuple(prefixes)
    return bool(prefixes) and all(any(k == p or k.startswith(p + ".") for p in prefixes) for k in keys)


def check_fingerprint(
    record: Path,
    fingerprint: dict[str, Any],
    *,
    what: str,
    has_work: bool | Callable[[], bool],
    folder: Path | None = None,
    remedy: str = "use a new output folder",
    allow: Iterable[str] = (),
    regradable: Iterable[str] = (),
    regrade_remedy: str | None = None,
) -> str:
    """The one settings guard: write `record`, or check that it holds `fingerprint`.

    Args:
        record: JSON file recording what made the folder.
        fingerprint: What makes this run (settings, grader, data hashes); nested dicts.
        what: What the folder holds, for the message ("a build", "shards").
        has_work: Whether the folder holds finished work (or a callable that says so). A
            record without finished work is replaced: a run that failed before writing
            anything must not block the corrected command.
        folder: The folder named in the message (default: the record's folder).
        remedy: What to do instead, said after "rerun with the same settings to resume, or".
        allow: Keys (or prefixes such as "grader") that may change now; the record is then
            updated (a regrade keeps the samples and takes the current grader).
        regradable: Keys that `regrade_remedy` can deal with: when only these differ, the
            refusal names `regrade_remedy` as well.

    Returns:
        "created", "same", "replaced" (old record of a run without finished work) or
        "updated" (only `allow`ed keys differed).

    Raises:
        DartError: The folder holds work made with other settings; names every difference.
    """
    text = json.dumps(fingerprint, indent=1, sort_keys=True, default=str) + "\n"
    plain = json.loads(text)
    if not record.is_file():
        atomic_write(record, text)
        return "created"
    try:
        old = json.loads(record.read_text(encoding="utf-8"))
    except ValueError:
        old = None
    if old == plain:
        return "same"
    if not (has_work() if callable(has_work) else has_work):
        logger.info("%s: replacing the record of a run that finished nothing", record)
        atomic_write(record, text)
        return "replaced"
    where = folder or record.parent
    if not isinstance(old, dict):
        raise DartError(f"{record} is not a valid settings record; {remedy}")
    if isinstance(fingerprint.get("settings"), dict) and set(old) != set(plain):
        missing = ", ".join(sorted(set(plain) - set(old))) or "its sections"
        raise DartError(
            f"{where} holds {what} recorded by an older dart-hf (the record lacks {missing}); {remedy}"
        )
    diff = fingerprint_diff(old, plain)
    fa, fb = _flatten(old), _flatten(plain)
    changed = [k for k in set(fa) | set(fb) if fa.get(k, "<unset>") != fb.get(k, "<unset>")]
    if _within(changed, allow):
        logger.info("%s: record updated (%s)", record, "; ".join(diff))
        atomic_write(record, text)
        return "updated"
    todo = f"{regrade_remedy}, or {remedy}" if regrade_remedy and _within(changed, regradable) else remedy
    raise DartError(
        f"{where} holds {what} made with other settings: {'; '.join(diff)}. "
        f"Rerun with the same settings to resume, or {todo}"
    )


# --------------------------------------------------------------------------- lock

_HELD: set[str] = set()


def _holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
    except (OSError, ValueError):
        return "another process"
    parts = [f"pid {info['pid']}" if "pid" in info else "another process"]
    if info.get("command"):
        parts.append(f"dart-hf {info['command']}")
    if info.get("host") and info["host"] != socket.gethostname():
        parts.append(f"on {info['host']}")
    if info.get("started"):
        parts.append(f"since {info['started']}")
    return ", ".join(parts)


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike[str], command: str) -> Iterator[Path]:
    """Hold the folder's lock while the block runs; refuse if another run holds it.

    The lock is a POSIX record lock, owned by this process alone: it ends with the process
    (also after `kill -9`) and is never inherited by forked or spawned children, so engine
    workers that outlive a killed run cannot keep the folder busy.

    Raises:
        DartError: Another run (or this process) already holds the folder.
    """
    out = Path(folder)
    path = out / LOCK_FILE
    key = str(path.resolve())
    if key in _HELD:  # before opening it: closing any fd of the file drops this process's lock
        raise DartError(f"{out} is already in use by this process; use another output folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except PermissionError:
        raise DartError(f"cannot write to {out}: permission denied") from None
    except IsADirectoryError:
        raise DartError(
            f"{path} is a folder where dart-hf keeps its lock file: remove it and rerun the same command"
        ) from None
    except OSError as exc:
        if exc.errno != errno.EROFS:
            raise
        raise DartError(read_only_message(out)) from None
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
            # a file system without locks (some bucket mounts): run, but say so
            logger.warning("%s: this file system cannot lock files; not locking the folder", out)
        else:
            holder = _holder(fd)
            os.close(fd)
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            raise DartError(
                f"{out} is in use by another run ({holder}); wait for it to finish, "
                "or use another output folder"
            ) from None
    info = {
        "pid": os.getpid(),
        "command": command,
        "host": socket.gethostname(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
    _HELD.add(key)
    try:
        yield out
    finally:
        _HELD.discard(key)
        os.close(fd)  # drops the lock; the file stays (a free lock, stale content)


# --------------------------------------------------------------------------- writes


def atomic_write(path: Path, text: str) -> None:
    """Write a text file under a temporary name and rename it into place."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with disk_full(path, tmp):
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def replace_folder(staged: Path, final: Path) -> None:
    """Move a complete staged folder to `final`, replacing an older one.

    A crash between the two renames leaves `final` absent (never half-written); the old copy
    sits in `.<name>.old` until the next call removes it.
    """
    old = final.with_name(f".{final.name}.old")
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        os.rename(final, old)
    os.rename(staged, final)
    shutil.rmtree(old, ignore_errors=True)


REDO = "delete it and rerun the same command"
"""What to do about a damaged file the command makes again (a shard, graded rows, a state)."""


def _is_damage(exc: BaseException) -> bool:
    """Whether an error reading a file says the file is damaged (cut short, garbled, a folder
    where a file belongs), not that it is missing, unreachable or the disk is full."""
    if isinstance(exc, (FileNotFoundError, PermissionError)) or is_disk_full(exc):
        return False
    if isinstance(exc, OSError) and exc.errno == errno.EROFS:
        return False
    if isinstance(exc, (ValueError, OSError, EOFError, UnicodeDecodeError)):
        return True  # pyarrow's ArrowInvalid is a ValueError, ArrowIOError an OSError
    return any(c.__name__ == "DatasetGenerationError" for c in type(exc).__mro__)


@contextlib.contextmanager
def damaged(path: str | os.PathLike[str], remedy: str = REDO) -> Iterator[None]:
    """Turn a damaged file read inside the block into one `DartError` naming it and `remedy`.

    A file cut short by a kill or a full disk, garbled, or a folder where a file belongs gives
    pyarrow's, json's or datasets' own error, which names no file; wrap the read of one file.
    """
    try:
        yield
    except DartError:
        raise
    except Exception as exc:
        if not _is_damage(exc):
            raise
        cause = exc.__cause__ if exc.__cause__ is not None and not str(exc) else exc
        reason = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
        if len(reason) > 120:
            reason = reason[:117] + "..."
        kind = "is a folder, not a file" if isinstance(exc, IsADirectoryError) else f"is damaged ({reason})"
        raise DartError(f"{path} {kind}: {remedy}") from None


def read_json(path: Path, remedy: str = REDO, keys: Iterable[str] = ()) -> Any:
    """A JSON file's value (a mapping holding `keys` when they are given), or a `DartError`
    naming the file and `remedy` when it is damaged."""
    with damaged(path, remedy):
        value = json.loads(path.read_text(encoding="utf-8"))
        lacking = [k for k in keys if not isinstance(value, dict) or k not in value]
        if lacking:
            raise ValueError(f"no {', '.join(lacking)}")
    return value


def read_only_message(path: str | os.PathLike[str]) -> str:
    """The one line for a write refused by a read-only file system (EROFS)."""
    return (
        f"cannot write {path}: it is on a read-only file system; use an output path on a "
        "writable disk (or remount it read-write)"
    )


def recover_replaced(folder: Path) -> list[Path]:
    """Finish what a kill inside `replace_folder` left in `folder`: a `.<name>.old` copy is
    removed when `<name>` is in place, and renamed back when it is not (the kill fell between
    the two renames: the old copy is the only one). Returns the copies dealt with."""
    done: list[Path] = []
    if not folder.is_dir():
        return done
    for old in sorted(folder.glob(".*.old")):
        if not old.is_dir():
            continue
        final = old.with_name(old.name[1:].removesuffix(".old"))
        if final.exists():
            shutil.rmtree(old)
        else:
            os.rename(old, final)
        done.append(old)
    return done


def is_disk_full(exc: BaseException) -> bool:
    """Whether an error is a full disk or an exhausted quota (also as pyarrow words it)."""
    if not isinstance(exc, OSError):
        return False
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return "No space left on device" in str(exc) or "Disk quota exceeded" in str(exc)


def remove_temp(folder: Path) -> list[Path]:
    """Remove temporary files (`*.tmp`, `*.tmp-<pid>`) and staging folders under `folder`."""
    gone: list[Path] = []
    if not folder.is_dir():
        return gone
    for pattern in ("*.tmp", "*.tmp-*", ".staging"):
        for p in folder.rglob(pattern):
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
            gone.append(p)
    return gone


def _newest_target(temps: list[Path]) -> Path | None:
    """The file the newest of these temporary files was to become (`.x.tmp-12` -> `x`)."""
    dated = []
    for p in temps:
        with contextlib.suppress(OSError):
            dated.append((p.stat().st_mtime_ns, p))
    if not dated:
        return None
    newest = max(dated)[1]
    name = re.sub(r"\.tmp(-\d+)?$", "", newest.name)
    if name != newest.name and "-" in newest.name.rsplit(".tmp", 1)[-1]:
        name = name.removeprefix(".")  # `.name.tmp-<pid>` is ours: hidden while written
    return newest.with_name(name)


@contextlib.contextmanager
def disk_full(path: str | os.PathLike[str], *temps: str | os.PathLike[str]) -> Iterator[None]:
    """Turn a full disk inside the block into one `DartError` naming the path.

    `temps` are removed (temporary files, or a folder's temporary files) so a failed write
    leaves nothing behind; finished work is kept.
    """
    try:
        yield
    except OSError as exc:
        if exc.errno == errno.EROFS:
            where = getattr(exc, "filename", None) or path
            raise DartError(read_only_message(where)) from None
        if not is_disk_full(exc):
            raise
        written: list[Path] = []  # the temporary files the run was writing
        for t in map(Path, temps):
            if t.is_dir():
                written += [q for pat in ("*.tmp", "*.tmp-*") for q in t.rglob(pat)]
            elif ".tmp" in t.name:  # never a finished file
                written.append(t)
        where = getattr(exc, "filename", None) or _newest_target(written) or path
        for t in map(Path, temps):
            if t.is_dir():
                remove_temp(t)
            elif ".tmp" in t.name:
                t.unlink(missing_ok=True)
        raise DartError(
            f"disk full while writing {where}: free some space (or use another output folder) "
            "and rerun the same command; finished work is kept"
        ) from None
