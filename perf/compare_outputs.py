"""Identical outputs before and after a refactor, through the command line.

Runs the same small scripted jobs with the package as of a git revision (`--old`, default
HEAD; extracted with `git archive` into a temporary folder) and with the working tree (or
`--new REV`), each as `python -m dart_hf ...` child processes with PYTHONPATH pointing at
that tree, so the check works across revisions whatever the module layout:

- `build`: a scripted build (bundled GSM8K + MATH queries, every strategy);
- `majority`: a scripted `gold: majority` build on GSM8K questions whose answers were
  removed (the simulated model knows them: a vote phase, then the usual rounds);
- `regrade`: `dart-hf regrade` of a copy of `build` (the same grader: the replayed states,
  releases, stats and cards must come out as the build's, and `regrade.json` as before);
- `eval`: a scripted evaluation (the first items of every bundled benchmark).

The inputs (recipes, the pool without answers, the simulated model's tables) are written
once by this script and given to both runs. Then it compares what they wrote:

- the releases (`*/releases/**`) and the evaluation's predictions: parquet files byte for
  byte, cards (README.md) as text apart from version lines, plots and other files by bytes;
- `*/stats.json`, `regrade/regrade.json` and `eval/results.json` as JSON, apart from
  timings (`VOLATILE_KEYS`);
- `eval/results.md` as text;

where text and JSON are compared with the output root and the package tree's own paths (a
bundled data file's location) replaced by placeholders, cards without timing lines, and
settings renamed, retired or introduced since (`RENAMED`, `RETIRED`, `INTRODUCED`) under
today's names, a retired or introduced one left out at its default.

Each child gets its own datasets cache, so neither run reuses the other's cached maps (a
module-level function is hashed by reference, so a changed body would not invalidate them).

    .venv/bin/python perf/compare_outputs.py [--old REV] [--new REV] [--queries 24]
        [--cases build,majority,regrade,eval] [--expect GLOB[:COLUMN] ...]

`--new REV` compares two revisions (e.g. a commit against its parent, when the working tree
also holds other people's unfinished edits).

`--expect GLOB` declares that files matching GLOB (relative to the output root, e.g.
`build/releases/dart-math-pool/**`) may differ; `--expect GLOB:COLUMN` that parquet files
matching GLOB may gain (or lose) COLUMN and must otherwise hold the same table. Prints one line
per compared file and exits 1 when a file differs unexpectedly (or exists on one side only).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
ARCHIVED = ("dart_hf", "dataset_cards")  # the package and the card templates it renders
VOLATILE_KEYS = frozenset(
    {
        "wall_time_s",
        "wall_s",
        "tokens_per_s",
        "samples_per_s",
        "created",
        "date",
        "engine_idle_s",
        "grading_wait_s",
    }
)
"""JSON keys whose values are timings or dates: left out of the comparison."""
VOLATILE_LINE = re.compile(
    r"dart[-_]hf \d+\.\d+\.\d+|wall time|tokens/s|tokens in [\d.]+ s|samples/s"
    r"|engine idle with free slots"
)
"""Card lines that name the package version or a timing: left out of the comparison."""
LOCAL_PATH = re.compile(r"/[^\s\"'|`]*?/dart_hf/")
"""A path into a package tree (e.g. a bundled data file): differs between the two trees."""
CASES = ("build", "majority", "regrade", "eval")

BUILD = {
    "engine": "scripted",
    "pool": "gsm8k,math",
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
    "shard_size": 8,
    "num_proc": 1,
}
"""The scripted build (plus `limit`): the settings of the scripted end-to-end build tests."""
MAJORITY = {
    "engine": "scripted",
    "query_column": "question",
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
"""The `gold: majority` build: rows 0, 1 answered right, 2 scattered, 3 consistently wrong."""
RENAMED = {"no_correct_min_samples": "hopeless_min_samples"}
"""Settings renamed since: new name -> the name a tree that lacks the new one reads."""
RETIRED = {"hopeless": None, "hopeless_alpha": None}
"""Settings removed since, with the value they record when not given."""
INTRODUCED = {
    "no_correct_stop": True,
    "max_in_flight": None,
    "stream": True,
    "overlap_grading": None,
    "failed_requests": 0,
    "require_anchor": None,
}
"""Settings added since, with their defaults (what a tree without them behaved as)."""
BENCHMARKS = (
    "math",
    "gsm8k",
    "college_math",
    "deepmind_mathematics",
    "olympiadbench",
    "theoremqa",
    "math500",
)
"""The evaluated benchmarks, named here so that every revision runs the same ones."""
SCATTER = [str(1001 + k) for k in range(50)]


def _jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def prepare_inputs(work: str | Path, queries: int = 24, eval_items: int = 3) -> Path:
    """Write the inputs every run shares into `work` (recipes, pools, simulated models).

    Reads the bundled data of this script's own tree; both runs get the same files.
    """
    import yaml

    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    (work / "build.yaml").write_text(yaml.safe_dump({**BUILD, "limit": queries}), "utf-8")
    data = REPO / "dart_hf" / "data"
    raw = [
        json.loads(x) for x in (data / "gsm8k" / "train.jsonl").read_text("utf-8").split("\n") if x.strip()
    ][:12]
    pool = _jsonl(work / "no-answers.jsonl", ({"question": r["question"]} for r in raw))
    truth = []
    for i, r in enumerate(raw):
        kind = ("right", "right", "scatter", "wrong")[i % 4]
        truth.append(
            {
                "query": r["question"].strip(),
                "answer": r["answer"].split("####")[-1].strip(),
                "solution": r["answer"],
                "pass_rate": {"right": 0.95, "scatter": 0.0, "wrong": 0.05}[kind],
                "wrong_answers": SCATTER if kind == "scatter" else None,
            }
        )
    table = _jsonl(work / "majority-model.jsonl", truth)
    majority = {**MAJORITY, "pool": str(pool), "engine_options": {"table": str(table)}}
    (work / "majority.yaml").write_text(yaml.safe_dump(majority), "utf-8")
    import datasets

    from dart_hf.sources import load_benchmark  # this tree's: the same table for both runs

    datasets.disable_progress_bars()

    evals = []
    for bench in BENCHMARKS:
        for r in load_benchmark(bench, limit=eval_items):
            level = r["level"] if r["level"] is not None else 3
            evals.append(
                {"query": r["query"], "answer": r["answer"], "solution": r["solution"], "level": level}
            )
    eval_table = _jsonl(work / "eval-table.jsonl", evals)
    recipe = {
        "eval": {
            "engine": "scripted",
            "model": "scripted-eval",
            "engine_options": {"table": str(eval_table)},
            "benchmarks": list(BENCHMARKS),
            "template": "alpaca",
            "limit": eval_items,
            "max_tokens": 4096,
            "shard_size": 4,
            "num_proc": 1,
        }
    }
    (work / "eval.yaml").write_text(yaml.safe_dump(recipe), "utf-8")
    return work


def _for_tree(recipe: Path, tree: Path, into: Path) -> Path:
    """The recipe with settings renamed since written under the names `tree` reads."""
    import yaml

    settings = yaml.safe_load(recipe.read_text("utf-8"))
    source = "\n".join(p.read_text("utf-8") for p in (tree / "dart_hf").rglob("*.py"))
    for new, old in RENAMED.items():
        if new in settings and f"{new}:" not in source:
            settings[old] = settings.pop(new)
    into.write_text(yaml.safe_dump(settings), "utf-8")
    return into


def produce(
    tree: str | Path,
    inputs: str | Path,
    out: str | Path,
    cases: Sequence[str] = CASES,
    cache: str | Path | None = None,
) -> Path:
    """Run every case with the package of `tree` through its CLI, writing `out/<case>/`."""
    tree, inputs, out = Path(tree), Path(inputs), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "PYTHONPATH": str(tree),
        "HF_DATASETS_OFFLINE": "1",
        "HF_HUB_OFFLINE": "1",
        "TQDM_DISABLE": "1",
    }
    if cache is not None:
        env["HF_DATASETS_CACHE"] = str(cache)
    env.pop("DART_HF_DATA_DIR", None)  # each tree's bundled data

    def cli(*args: str) -> None:
        cmd = [sys.executable, "-m", "dart_hf", *args, "-q"]
        done = subprocess.run(cmd, env=env, cwd=out, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"{' '.join(args)} failed with {tree}:\n{done.stderr[-3000:]}")

    if "build" in cases or "regrade" in cases:
        recipe = _for_tree(inputs / "build.yaml", tree, out / "build.yaml")
        cli("build", "--config", str(recipe), "-o", str(out / "build"))
    if "regrade" in cases:
        shutil.copytree(out / "build", out / "regrade")
        cli("regrade", str(out / "regrade"))
    if "majority" in cases:
        recipe = _for_tree(inputs / "majority.yaml", tree, out / "majority.yaml")
        cli("build", "--config", str(recipe), "-o", str(out / "majority"))
    if "eval" in cases:
        cli("eval", "--config", str(inputs / "eval.yaml"), "-o", str(out / "eval"))
    return out


def compared_files(root: Path) -> list[str]:
    """The files of an output root that are compared (relative POSIX paths, sorted)."""
    picked: list[Path] = []
    for case in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        for sub in ("releases", "predictions"):
            if (case / sub).is_dir():
                picked += [p for p in (case / sub).rglob("*") if p.is_file()]
        picked += [
            case / name
            for name in ("stats.json", "regrade.json", "results.json", "results.md")
            if (case / name).is_file()
        ]
    skip = (".cache", ".lock", ".tmp")
    return sorted(
        p.relative_to(root).as_posix()
        for p in picked
        if not any(part.startswith(skip) or part.endswith(".tmp") for part in p.parts)
    )


def _local(text: str, root: Path) -> str:
    """Text with the output root and package-tree paths replaced by placeholders."""
    return LOCAL_PATH.sub("<tree>/dart_hf/", text).replace(str(root), "<out>")


def _setting_names(key: str, value: Any) -> str | None:
    """A recorded setting under today's name, or None when it says only what a tree without
    it did anyway (a retired setting at its recorded default, a new one at its default)."""
    key = {old: new for new, old in RENAMED.items()}.get(key, key)
    if key in RETIRED and value == RETIRED[key]:
        return None
    if key in INTRODUCED and value == INTRODUCED[key]:
        return None
    return key


def _strip_volatile(value: Any) -> Any:
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            name = _setting_names(k, v)
            if k not in VOLATILE_KEYS and name is not None:
                out[name] = _strip_volatile(v)
        return out
    if isinstance(value, list):
        return [_strip_volatile(v) for v in value]
    return value


def _json(path: Path, root: Path) -> Any:
    return _strip_volatile(json.loads(_local(path.read_text(encoding="utf-8"), root)))


_YAML_LINE = re.compile(r"^(\s*)([a-z_]+): (.*)$")


def _card_line(line: str) -> str | None:
    """A card line with recorded settings under today's names (None: drop it)."""
    import yaml

    m = _YAML_LINE.match(line)
    if not m:
        return line
    try:
        value = yaml.safe_load(m.group(3))
    except yaml.YAMLError:
        return line
    name = _setting_names(m.group(2), value)
    return None if name is None else f"{m.group(1)}{name}: {m.group(3)}"


def _card_text(path: Path, root: Path) -> list[str]:
    text = _local(path.read_text(encoding="utf-8"), root)
    lines = (_card_line(ln) for ln in text.splitlines() if not VOLATILE_LINE.search(ln))
    return [ln for ln in lines if ln is not None]


def _parquet_without(path: Path, columns: set[str]) -> Any:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    return table.drop_columns([c for c in table.column_names if c in columns])


@dataclass(frozen=True)
class Row:
    """One compared file."""

    path: str
    status: str  # identical | identical* | different | only old | only new | expected (...)
    unexpected: bool


def _same(rel: str, old: Path, new: Path, columns: set[str]) -> bool:
    a, b = old / rel, new / rel
    name = Path(rel).name
    if name.endswith(".json"):
        return bool(_json(a, old) == _json(b, new))
    if name.endswith(".md"):
        return _card_text(a, old) == _card_text(b, new)
    if a.read_bytes() == b.read_bytes():
        return True
    if name.endswith(".parquet") and columns:
        return bool(_parquet_without(a, columns).equals(_parquet_without(b, columns)))
    return False


def compare_trees(old: str | Path, new: str | Path, expected: Iterable[str] = ()) -> list[Row]:
    """Compare two output roots written by `produce`.

    Args:
        old: Output root of the old code.
        new: Output root of the new code.
        expected: `GLOB` (files that may differ, or exist on one side only) or `GLOB:COLUMN`
            (parquet files that may gain or lose COLUMN; the rest of the table must be equal).

    Returns:
        One row per file found under either root.
    """
    old, new = Path(old), Path(new)
    whole = [e for e in expected if ":" not in e]
    cols: list[tuple[str, str]] = [tuple(e.split(":", 1)) for e in expected if ":" in e]  # type: ignore[misc]
    a, b = set(compared_files(old)), set(compared_files(new))
    rows = []
    for rel in sorted(a | b):
        allowed = any(fnmatch.fnmatch(rel, g) for g in whole)
        columns = {c for g, c in cols if fnmatch.fnmatch(rel, g)}
        if rel not in b or rel not in a:
            status = "only old" if rel not in b else "only new"
        elif (old / rel).read_bytes() == (new / rel).read_bytes():
            status = "identical"
        elif _same(rel, old, new, set()):
            status = "identical*"  # apart from timings and local paths
        elif columns and _same(rel, old, new, columns):
            status = f"expected (columns {', '.join(sorted(columns))})"
        else:
            status = "different"
        if allowed and not status.startswith(("identical", "expected")):
            status = f"expected ({status})"
        rows.append(Row(rel, status, status in ("different", "only old", "only new")))
    return rows


def format_table(rows: list[Row]) -> str:
    """The comparison as a plain table, then a one-line summary."""
    width = max((len(r.path) for r in rows), default=4)
    lines = [f"{'file':<{width}}  status", f"{'-' * width}  ------"]
    lines += [f"{r.path:<{width}}  {r.status}{'  <-- UNEXPECTED' if r.unexpected else ''}" for r in rows]
    same = sum(r.status.startswith("identical") for r in rows)
    bad = sum(r.unexpected for r in rows)
    lines.append(
        f"{len(rows)} files: {same} identical, {len(rows) - same - bad} expected "
        f"differences, {bad} unexpected (identical*: apart from timings and "
        "local paths)"
    )
    return "\n".join(lines)


def _extract(rev: str, into: Path) -> Path:
    """The package and card templates as of `rev`, extracted into `into`."""
    into.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "archive", rev, *ARCHIVED], cwd=REPO, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", default="HEAD", help="git revision of the old code")
    parser.add_argument(
        "--new", default=None, help="git revision of the new code [default: the working tree]"
    )
    parser.add_argument("--queries", type=int, default=24, help="queries of the scripted build")
    parser.add_argument("--eval-items", type=int, default=3, help="items per benchmark")
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated cases")
    parser.add_argument("--expect", action="append", default=[], metavar="GLOB[:COLUMN]")
    parser.add_argument("--keep", help="write both output roots here instead of a temp dir")
    args = parser.parse_args()
    cases = [c for c in args.cases.split(",") if c]
    unknown = sorted(set(cases) - set(CASES))
    if unknown:
        parser.error(f"unknown case {unknown[0]!r}; valid: {', '.join(CASES)}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.keep) if args.keep else Path(tmp) / "outputs"
        inputs = prepare_inputs(work / "inputs", args.queries, args.eval_items)
        trees = {
            "old": _extract(args.old, Path(tmp) / "old-tree"),
            "new": REPO if args.new is None else _extract(args.new, Path(tmp) / "new-tree"),
        }
        for name, path in trees.items():
            produce(path, inputs, work / name, cases, cache=Path(tmp) / f"cache-{name}")
        rows = compare_trees(work / "old", work / "new", args.expect)
    print(
        f"old = {args.old}, new = {args.new or 'working tree'}; cases {', '.join(cases)}; "
        f"{args.queries} build queries, {args.eval_items} items per benchmark"
    )
    print(format_table(rows))
    sys.exit(1 if any(r.unexpected for r in rows) or not rows else 0)


if __name__ == "__main__":
    main()
