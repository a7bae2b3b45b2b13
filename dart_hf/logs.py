"""What a person sees in the terminal: verbosity, dart-hf's log handler, bars, the engine log.

Three levels, set once per command by the CLI (`-q`, default, `-v`):

- quiet: errors and the command's final summary only (no bars, no warnings);
- default: our progress bars (not datasets' own: parquet writes, split generation, maps),
  our warnings (a retry is one line), the summary; the engines' own output (vLLM's
  INFO/WARNING lines, its engine-core and worker processes, C++ and compiler chatter) goes
  to `<output folder>/dart-hf.log`, whose path is printed once;
- verbose: our INFO logs too, and the engines write to the terminal as they would alone.

vLLM runs its engine core and workers in processes of their own, so Python logging alone
cannot move their output: while an engine starts, file descriptors 1 and 2 point at the log
file, so every process it starts inherits them; ours are restored afterwards (our bars keep
the terminal) and the `vllm` logger of this process is pointed at the file too.

Progress bars (`progress_bar`) honour `TQDM_DISABLE` and `HF_DATASETS_DISABLE_PROGRESS_BARS`,
as the tqdm bars of datasets and huggingface_hub beside them do.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

QUIET, DEFAULT, VERBOSE = -1, 0, 1
LOG_NAME = "dart-hf.log"
_TRUE = ("1", "true", "yes", "on", "y")
_HF_RETRY_ECHOES = ("Retrying in ", "Rate limited. Waiting ")
"""huggingface_hub logs each retry twice ("HTTP Error ... thrown while requesting ...", then
"Retrying in ..."): the default verbosity joins them into one line."""


@dataclass
class _State:
    verbosity: int = DEFAULT
    log_file: Path | None = None
    announced: bool = False
    engine_log: IO[str] | None = None


_state = _State()


def verbosity() -> int:
    """The current verbosity (QUIET, DEFAULT, VERBOSE or more)."""
    return _state.verbosity


def log_file() -> Path | None:
    """Where the engines' output goes, when a command has set one."""
    return _state.log_file


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


def bars_disabled() -> bool:
    """Whether bars stay hidden: `-q`, `TQDM_DISABLE` or `HF_DATASETS_DISABLE_PROGRESS_BARS`."""
    return (
        _state.verbosity <= QUIET
        or _env_true("TQDM_DISABLE")
        or _env_true("HF_DATASETS_DISABLE_PROGRESS_BARS")
    )


def progress_bar(*args: Any, disable: bool = False, **kwargs: Any) -> Any:
    """A `tqdm.auto.tqdm` bar, hidden when `bars_disabled()` (use it as tqdm itself)."""
    from tqdm.auto import tqdm

    return tqdm(*args, disable=bool(disable) or bars_disabled(), **kwargs)


class TqdmHandler(logging.Handler):
    """Writes records above the bars (`tqdm.write`) to the current `sys.stderr`."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from tqdm import tqdm

            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # pragma: no cover - logging must never raise
            self.handleError(record)


class _LowerLevelFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        record.levelname_lower = record.levelname.lower()
        return super().format(record)


class _OneLinePerRetry(logging.Filter):
    """Holds huggingface_hub's "... thrown while requesting ..." line (per thread: uploads run
    in threads) and prints it with the "Retrying in ..." line that follows, as one line."""

    def __init__(self) -> None:
        super().__init__()
        self.pending: dict[int | None, str] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if " thrown while requesting " in message:
            self.pending[record.thread] = message
            return False
        if message.startswith(_HF_RETRY_ECHOES):
            first = self.pending.pop(record.thread, None)
            if first is not None:
                record.msg, record.args = f"{first}; {message[0].lower()}{message[1:]}", None
        return True


def _out_folder(out: str | os.PathLike[str] | None) -> Path | None:
    if out is None:
        return None
    path = Path(out)
    return path.parent if path.suffix in (".jsonl", ".json", ".parquet", ".csv") else path


@contextlib.contextmanager
def terminal(
    level: int = DEFAULT,
    *,
    out: str | os.PathLike[str] | None = None,
    library_bars: bool = False,
) -> Iterator[None]:
    """Set what the terminal shows for one command (restored afterwards).

    Args:
        level: QUIET (-1), DEFAULT (0), VERBOSE (1), or 2 for debug logs.
        out: The command's output folder (or file): the engine log goes beside it.
        library_bars: Keep datasets' own bars at the default level (a command whose work is
            a datasets map, such as `grade`, has no bar of its own).
    """
    import huggingface_hub.utils.logging as hf_logging

    ours = logging.getLogger("dart_hf")
    hf = hf_logging.get_logger()
    saved = (_state.verbosity, _state.log_file, _state.announced, ours.level, hf.level)
    saved_env = {k: os.environ.get(k) for k in ("TRANSFORMERS_VERBOSITY",)}
    handler = TqdmHandler()
    if level >= VERBOSE:
        fmt = "%(asctime)s %(name)s %(levelname_lower)s: %(message)s"
        handler.setFormatter(_LowerLevelFormatter(fmt, datefmt="%H:%M:%S"))
    else:
        handler.setFormatter(_LowerLevelFormatter("%(levelname_lower)s: %(message)s"))
    ours.addHandler(handler)
    ours.setLevel(logging.ERROR if level <= QUIET else logging.WARNING if level == DEFAULT else logging.INFO)
    if level >= 2:
        ours.setLevel(logging.DEBUG)
    echo = _OneLinePerRetry()
    hf_formats = [(h, h.formatter) for h in hf.handlers]
    if level == DEFAULT:  # on its handlers: a logger's own filters skip its children's records
        for h in hf.handlers:
            h.addFilter(echo)
            h.setFormatter(_LowerLevelFormatter("%(levelname_lower)s: %(message)s"))
    elif level <= QUIET:
        hf.setLevel(logging.ERROR)
        os.environ["TRANSFORMERS_VERBOSITY"] = "error"
    _state.verbosity, _state.log_file, _state.announced = level, _out_folder(out), False
    if bars_disabled():
        bars: contextlib.AbstractContextManager[None] = _quiet_library_bars()
    elif level == DEFAULT and not library_bars:  # datasets' own bars are -v detail here
        bars = _quiet_library_bars(hub=False)
    else:
        bars = contextlib.nullcontext()
    if _state.log_file is not None:
        _state.log_file = _state.log_file / LOG_NAME
    try:
        with warnings.catch_warnings(), bars:
            if level <= QUIET:
                warnings.simplefilter("ignore")
            yield
    finally:
        ours.removeHandler(handler)
        for h, formatter in hf_formats:
            h.removeFilter(echo)
            h.setFormatter(formatter)
        _state.verbosity, _state.log_file, _state.announced, old_ours, old_hf = saved
        ours.setLevel(old_ours)
        hf.setLevel(old_hf)
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def _quiet_library_bars(hub: bool = True) -> Iterator[None]:
    """datasets' (and unless not `hub`, huggingface_hub's) own bars off for one command."""
    import datasets
    from huggingface_hub.utils import (
        are_progress_bars_disabled,
        disable_progress_bars,
        enable_progress_bars,
    )

    was_ds, was_hf = datasets.is_progress_bar_enabled(), not are_progress_bars_disabled()
    datasets.disable_progress_bars()
    if hub:
        disable_progress_bars()
    try:
        yield
    finally:
        if was_ds:
            datasets.enable_progress_bars()
        if was_hf and hub:
            enable_progress_bars()


def announce(text: str) -> None:
    """One line for the terminal at default verbosity and above (above any bar)."""
    if _state.verbosity >= DEFAULT:
        from tqdm import tqdm

        tqdm.write(text, file=sys.stderr)


def _engine_log() -> IO[str] | None:
    path = _state.log_file
    if path is None:
        return None
    if _state.engine_log is None or _state.engine_log.name != str(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        _state.engine_log = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115
    return _state.engine_log


@contextlib.contextmanager
def engine_output(backend: str) -> Iterator[None]:
    """Route an engine's own output to the command's log file while it starts.

    Does nothing with `-v`, for the scripted engine, or when no command set a log file (the
    Python API leaves output where it is). The engine's child processes keep writing to the
    file; this process gets its terminal back when the engine is up.
    """
    fh = _engine_log() if backend != "scripted" and _state.verbosity < VERBOSE else None
    if fh is None:
        yield
        return
    fh.write(f"==== {time.strftime('%Y-%m-%d %H:%M:%S')} {backend} engine, pid {os.getpid()}\n")
    if not _state.announced:
        announce(f"engine log: {_state.log_file}")
        _state.announced = True
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        os.dup2(fh.fileno(), 1)
        os.dup2(fh.fileno(), 2)
        yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)
        # what the engines log later (generation warnings) goes on to the file too
        _to_file("vllm", fh)
        _to_file("transformers", fh)


def _to_file(name: str, fh: IO[str]) -> None:
    """Point the terminal handlers of logger `name` (set up on its import) at `fh`.

    Only handlers writing to the terminal move: others on the same logger (an application's,
    or pytest's capture handlers, which it attaches to non-propagating loggers) stay as they are.
    """
    terminal = {id(s) for s in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__)}
    for handler in logging.getLogger(name).handlers:
        if (
            isinstance(handler, logging.StreamHandler)
            and not isinstance(handler, logging.FileHandler)
            and id(handler.stream) in terminal
        ):
            handler.setStream(fh)
