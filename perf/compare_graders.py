"""How many verdicts a grader change flips on outputs already made (a build or an evaluation).

Reads every graded row under the given paths (a build's `rounds/round-*/graded.arrow`, an
evaluation's `predictions/**/*.parquet`, or any parquet/arrow/jsonl file with `response` and
`answer` or `gold` columns), grades them with the package as of a git revision (`--before`,
extracted with `git archive` into a temporary folder and run in a child process) and with the
working tree, and prints the flips in each direction, by the new `verdict_source`, with
examples. Nothing is written into the inputs.

    .venv/bin/python perf/compare_graders.py runs/default/rounds runs/eval/predictions \
        [--before a8400ec] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BEFORE = "a8400ec"  # the hand-written extraction (GRADE_VERSION 1)
KEEP = (
    "response",
    "answer",
    "finish_reason",
    "source",
    "answers",
    "answer_type",
    "multi_answer",
    "unit",
    "tolerance",
)

CHILD = r"""
import json, sys
from datasets import Dataset
from dart_hf.config import GradeConfig
from dart_hf.grading.grade import grade_batch

rows = json.load(open(sys.argv[1]))
out = {"pred": [], "correct": [], "grade_status": [], "verdict_source": []}
for start in range(0, len(rows["response"]), 256):
    batch = {k: v[start : start + 256] for k, v in rows.items()}
    res = grade_batch(batch, config=GradeConfig(timeout_s=10.0, num_proc=2))
    for k in out:
        out[k] += res.get(k, [None] * len(batch["response"]))
json.dump(out, open(sys.argv[2], "w"))
"""


def files_under(paths: list[str]) -> list[Path]:
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_file():
            found.append(p)
        else:
            graded = sorted(p.glob("**/graded.arrow"))
            dirs = {g.parent for g in graded}
            # a round's graded.arrow holds its shards' rows: read the shards only without one
            found += graded + [f for f in sorted(p.glob("**/*.parquet")) if f.parent not in dirs]
    return found


def load_rows(files: list[Path]) -> dict[str, list]:
    from datasets import Dataset, concatenate_datasets, load_dataset

    parts = []
    for f in files:
        if f.suffix == ".arrow":
            ds = Dataset.from_file(str(f))
        else:
            ds = load_dataset(f.suffix.lstrip(".").replace("jsonl", "json"), data_files=str(f), split="train")
        if "answer" not in ds.column_names and "gold" in ds.column_names:
            ds = ds.rename_column("gold", "answer")
        if "response" not in ds.column_names or "answer" not in ds.column_names:
            continue
        parts.append(ds.select_columns([c for c in KEEP if c in ds.column_names]))
    if not parts:
        raise SystemExit("no graded rows (response and answer/gold columns) under those paths")
    return concatenate_datasets(parts).to_dict()


def grade_with(pythonpath: str, rows_file: str, out_file: str) -> dict[str, list]:
    env = {**os.environ, "PYTHONPATH": pythonpath, "HF_DATASETS_OFFLINE": "1"}
    subprocess.run(
        [sys.executable, "-c", CHILD, rows_file, out_file],
        env=env,
        check=True,
        cwd=pythonpath,
        stdout=subprocess.DEVNULL,
    )
    return json.loads(Path(out_file).read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--before", default=BEFORE)
    parser.add_argument("--json", help="write the figures and flipped rows here")
    parser.add_argument("--examples", type=int, default=8)
    args = parser.parse_args()
    rows = load_rows(files_under(args.paths))
    n = len(rows["response"])
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(
            ["git", "archive", args.before, "dart_hf"], cwd=REPO, capture_output=True, check=True
        ).stdout
        old_pkg = Path(tmp) / "old"
        old_pkg.mkdir()
        subprocess.run(["tar", "-x", "-C", str(old_pkg)], input=archive, check=True)
        rows_file = str(Path(tmp) / "rows.json")
        Path(rows_file).write_text(json.dumps(rows))
        old = grade_with(str(old_pkg), rows_file, str(Path(tmp) / "old.json"))
        new = grade_with(str(REPO), rows_file, str(Path(tmp) / "new.json"))
    flips: dict[str, list[int]] = {"wrong->correct": [], "correct->wrong": []}
    for i in range(n):
        a, b = old["correct"][i] is True, new["correct"][i] is True
        if a != b:
            flips["correct->wrong" if a else "wrong->correct"].append(i)
    status_moves = Counter(
        (old["grade_status"][i], new["grade_status"][i])
        for i in range(n)
        if old["grade_status"][i] != new["grade_status"][i]
    )
    print(
        f"{n} graded rows; correct before {sum(c is True for c in old['correct'])}, "
        f"after {sum(c is True for c in new['correct'])}"
    )
    report: dict[str, object] = {"rows": n, "before": args.before, "flips": {}}
    for direction, idx in flips.items():
        by_source = Counter(new["verdict_source"][i] for i in idx)
        print(f"{direction}: {len(idx)} ({dict(by_source)})")
        examples = [
            {
                "gold": rows["answer"][i],
                "response_end": rows["response"][i][-200:],
                "old_pred": old["pred"][i],
                "new_pred": new["pred"][i],
                "new_status": new["grade_status"][i],
                "new_source": new["verdict_source"][i],
            }
            for i in idx
        ]
        for ex in examples[: args.examples]:
            print(
                f"  gold {ex['gold']!r}: {ex['old_pred']!r} -> {ex['new_pred']!r} "
                f"({ex['new_status']}, {ex['new_source']})"
            )
        report["flips"][direction] = {
            "n": len(idx),
            "by_source": dict(by_source),  # type: ignore[index]
            "rows": examples,
        }
    print("status changes:", {f"{a}->{b}": c for (a, b), c in status_moves.most_common()})
    report["status_changes"] = {f"{a}->{b}": c for (a, b), c in status_moves.items()}
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
