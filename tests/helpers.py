"""What tests of one module need across layers (tests/unit, e2e, integration, gpu).

A module's tests may sit in several layer folders (`test_build.py` in e2e, `test_build_unit.py`
in unit); the settings, tables and small functions they share live here, not in one test file
imported by another. `tests/` is on `sys.path` (tests/conftest.py), so `from helpers import ...`
works from every layer.
"""

from __future__ import annotations

import contextlib
import errno
import json
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
"""The checkout's root."""
TEST_DATA = REPO / "tests" / "data"
"""Checked-in test data (grading corpus, Hub metadata snapshot, a stats example)."""

# ---------------------------------------------------------------- builds (test_build and others)

BASE = {
    "engine": "scripted",
    "pool": "gsm8k,math",
    "limit": 10,
    "template": "deepseekmath",
    "temperature": 1.0,
    "max_tokens": 4096,
    "strategies": "uniform,prop2diff,vrt",
    "k_u": 3,
    "k_p": 6,
    "vrt_n": 6,
    "max_trials": 24,
    "difficulty_samples": 4,
    "round_cap": 6,
    "no_correct_min_samples": 8,
    "shard_size": 4,
    "num_proc": 1,
}
"""The scripted build of test_build (regrade and the Ray executor build it too)."""

MAJORITY_BASE = {
    "engine": "scripted",
    "query_column": "problem",
    "gold": "majority",
    "template": "deepseekmath",
    "temperature": 1.0,
    "max_tokens": 4096,
    "strategies": "uniform,prop2diff",
    "k_u": 3,
    "k_p": 6,
    "max_trials": 32,
    "difficulty_samples": 8,
    "round_cap": 8,
    "shard_size": 8,
    "num_proc": 1,
    "decontaminate": False,
    "gold_min_votes": 4,
    "gold_min_share": 0.5,
}
"""The `gold: majority` builds of test_build_majority."""


def write_recipe(path: Path, body: dict) -> str:
    """Write `body` as a YAML recipe at `path`; returns the path as text."""
    path.write_text(yaml.safe_dump(body), encoding="utf-8")
    return str(path)


def enospc(*_args: object, **_kw: object) -> None:
    """Stands in for a write on a full disk."""
    raise OSError(errno.ENOSPC, "No space left on device")


# ---------------------------------------------------------------- grading (test_grading)


def box(ans: str) -> str:
    """A response whose final answer is `ans` in a box."""
    return f"We compute carefully. The final answer is $\\boxed{{{ans}}}$."


GRADING_NORMAL = {
    "response": [box(r"\frac12"), box("1,234"), "no idea", box("3"), box("2"), box("5")],
    "answer": ["0.5", "1234", "7", "4", "", "5"],
    "finish_reason": ["stop", "stop", "stop", "stop", "stop", "length"],
}
"""A batch with every grade status: ok (right and wrong), no_answer, bad_gold, truncated."""

GRADING_ROWS = [
    {"response": box("18"), "answer": "18", "source": "gsm8k"},
    {"response": box("17"), "answer": "18", "source": "gsm8k"},
    {"response": box("3"), "answer": "", "source": "gsm8k"},
]
"""Rows for `dart-hf grade` input files."""


# ---------------------------------------------------------------- benchmarks (test_benchmarks)

TINY_BENCHMARK = [
    {
        "question": "Ann has 3 apples and buys 4 more. How many apples has she?",
        "answer": "3 + 4 = <<3+4=7>>7 apples.\n#### 7",
        "pass_rate": 1.0,
    },
    {
        "question": "A box holds 6 eggs. How many eggs are in 5 boxes?",
        "answer": "6 * 5 = <<6*5=30>>30 eggs.\n#### 30",
        "pass_rate": 1.0,
    },
    {
        "question": "Tom reads 12 pages a day. How many pages does he read in 9 days?",
        "answer": "12 * 9 = <<12*9=108>>108 pages.\n#### 108",
        "pass_rate": 0.0,
    },
]
"""`tinyarith` (registered by `register_tiny_benchmark`): three GSM8K-format items; the
scripted model solves the first two and never the third."""


def register_tiny_benchmark(tmp_path: Path, monkeypatch: object) -> Path:
    """Register `tinyarith` (one record) over a tiny JSONL in a data dir of its own."""
    from dart_hf.benchmarks import BENCHMARKS, Benchmark

    data = tmp_path / "data"
    (data / "tinyarith").mkdir(parents=True)
    lines = [json.dumps({k: r[k] for k in ("question", "answer")}) for r in TINY_BENCHMARK]
    (data / "tinyarith" / "test.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    record = Benchmark(
        "tinyarith",
        "TinyArith",
        "tinyarith/test.jsonl",
        "gsm8k",
        "CC0-1.0",
        "three word problems",
        exemplars="gsm8k",
        shots=2,
        decontaminate=True,
    )
    monkeypatch.setitem(BENCHMARKS, "tinyarith", record)  # type: ignore[attr-defined]
    return data


# ---------------------------------------------------------------- Hub staging (test_hub)


def hub_samples(n: int = 20, width: int = 10):  # type: ignore[no-untyped-def]
    """A small release-like Dataset (query, response, level) for Hub staging and pushes."""
    from datasets import Dataset, Features, Value

    return Dataset.from_dict(
        {
            "query": [f"What is {i} + {i}?" for i in range(n)],
            "response": [f"{i} + {i} = \\boxed{{{2 * i}}} " + "x" * width for i in range(n)],
            "level": [i % 6 for i in range(n)],
        },
        features=Features({"query": Value("string"), "response": Value("string"), "level": Value("int32")}),
    )


# ---------------------------------------------------------------- processes (engine lifetime)


def descendants(pid: int) -> dict[int, str]:
    """Live descendants of `pid` (zombies count as dead), with their command lines."""
    parent: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            parent[int(entry.name)] = int(fields[1])
    found, todo = {}, [pid]
    while todo:
        p = todo.pop()
        for child, ppid in parent.items():
            if ppid == p and child not in found:
                try:
                    cmd = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
                except OSError:
                    continue
                found[child] = cmd.decode(errors="replace")
                todo.append(child)
    return found


def alive(pids: list[int]) -> list[int]:
    """Those of `pids` that are still running (not zombies)."""
    out = []
    for p in pids:
        try:
            state = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            out.append(p)
    return out


# ---------------------------------------------------------------- sources (test_sources)


def check_source_schema(ds) -> None:  # type: ignore[no-untyped-def]
    """A normalised source: the declared features, unique ids, no empty query."""
    from dart_hf.normalise import SOURCE_FEATURES

    assert ds.features == SOURCE_FEATURES
    ids = ds["id"]
    assert len(set(ids)) == len(ids)
    assert all(q.strip() for q in ds["query"])


# processes of a command under test (issue 27): watchdogs, liveness, sessions


def watchdogs_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            if entry.name.isdigit() and b"lifetime.py" in b" ".join(argv) and str(pid).encode() in argv:
                found.append(int(entry.name))
    return found


def is_alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def gone(pids: list[int], within_s: float) -> bool:
    until = time.time() + within_s
    while time.time() < until:
        if not any(is_alive(p) for p in pids):
            return True
        time.sleep(0.1)
    return False


def session_processes(sid: int) -> list[tuple[int, str]]:
    """(pid, command line) of every live process in session `sid`."""
    out = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if entry.name.isdigit() and int(fields[3]) == sid and fields[0] != "Z":
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
                out.append((int(entry.name), cmd or (entry / "comm").read_text().strip()))
    return out
