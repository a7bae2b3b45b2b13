"""Our grader against plain Math-Verify on the outside grading corpus, as Markdown.

Prints agreement with the expected verdicts per source, per answer format and per response
style (ours and the baseline of `grading_baseline.py`), then every case where ours differs
from the baseline and every case ours gets wrong.

    .venv/bin/python benchmarks/grading_corpus_report.py [--corpus DIR] [--out report.md]

The corpus, its fields and the agreement conventions are described in
`tests/data/grading_corpus/README.md`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from grading_baseline import CORPUS_DIR, baseline_outcome  # noqa: E402

EXPECTED_VALUES = (True, False, "no_answer", "bad_gold")
JUDGE_KWARGS = ("answers", "answer_type", "multi_answer", "unit", "tolerance", "benchmark")


def load_corpus(folder: Path = CORPUS_DIR) -> list[dict[str, Any]]:
    """Every case of every `*.jsonl` file in the folder, with `_file` and `_line` added."""
    cases = []
    for path in sorted(folder.glob("*.jsonl")):
        with path.open(encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if line.strip():
                    case = json.loads(line)
                    case["_file"], case["_line"] = path.name, n
                    cases.append(case)
    return cases


def judge_kwargs(case: dict[str, Any]) -> dict[str, Any]:
    return {k: case[k] for k in JUDGE_KWARGS if case.get(k) is not None}


def agrees(expected: Any, correct: bool | None, status: str) -> bool:
    """Whether a verdict agrees with an expected one (see the corpus README)."""
    if expected == "no_answer":
        return status == "no_answer"
    if expected == "bad_gold":
        return status == "bad_gold"
    if expected is True:
        return correct is True
    return correct is False


@dataclass
class Row:
    case: dict[str, Any]
    ours: bool
    base: bool
    pred: str | None
    correct: bool | None
    status: str
    verdict_source: str | None
    base_correct: bool
    base_pred: str


def evaluate(cases: Iterable[dict[str, Any]]) -> list[Row]:
    """Grade every case with `judge` and with the baseline, in this process."""
    from dart_hf.answers import judge

    rows = []
    for case in cases:
        try:
            if case.get("finish_reason") == "length":  # as grade_batch decides it
                pred, correct, status, vsrc = None, False, "truncated", "truncated"
            else:
                v = judge(case["response"], case["gold"], **judge_kwargs(case))
                pred, correct, status = v.pred, v.correct, v.status
                vsrc = getattr(v, "source", None) or getattr(v, "verdict_source", None)
        except Exception as exc:  # a crash is a disagreement, and is shown
            pred, correct, status, vsrc = None, None, f"exception: {exc!r}"[:120], None
        b = baseline_outcome(case["gold"], case["response"])
        expected = case["expected"]
        if expected == "no_answer":
            base_ok = not b.pred_parsed
        elif expected == "bad_gold":
            base_ok = not b.gold_parsed
        else:
            base_ok = b.correct is bool(expected)
        rows.append(
            Row(
                case,
                agrees(expected, correct, status),
                base_ok,
                pred,
                correct,
                status,
                vsrc,
                b.correct,
                str(b.pred_parsed[-1]) if b.pred_parsed else "",
            )
        )
    return rows


def table(rows: list[Row], key: str) -> str:
    """Agreement of ours and of the baseline, grouped by a case field, as a Markdown table."""
    groups: dict[str, list[Row]] = {}
    for r in rows:
        groups.setdefault(str(r.case.get(key, "-")), []).append(r)
    lines = [
        f"| {key} | n | ours | baseline | ours - baseline |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name in sorted(groups):
        g = groups[name]
        o, b = sum(r.ours for r in g), sum(r.base for r in g)
        lines.append(f"| {name} | {len(g)} | {o / len(g):.1%} | {b / len(g):.1%} | {o - b:+d} |")
    o, b = sum(r.ours for r in rows), sum(r.base for r in rows)
    n = max(len(rows), 1)
    lines.append(f"| **all** | {len(rows)} | {o / n:.1%} | {b / n:.1%} | {o - b:+d} |")
    return "\n".join(lines)


def _short(text: Any, n: int = 90) -> str:
    s = " ".join(str(text).split())
    s = s if len(s) <= n else "…" + s[-(n - 1) :]
    return s.replace("|", "\\|")


def case_lines(rows: list[Row]) -> str:
    lines = [
        "| id | format | expected | ours (status, source) | baseline | gold | pred"
        " | response end |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        c = r.case
        mark_o = "ok" if r.ours else "WRONG"
        mark_b = "ok" if r.base else "WRONG"
        lines.append(
            f"| {c['id']} | {c.get('format', '-')} | {c['expected']} | {mark_o}: {r.correct}"
            f" ({r.status}, {r.verdict_source or '-'}) | {mark_b}: {r.base_correct} "
            f"`{_short(r.base_pred, 40)}` | `{_short(c['gold'], 40)}` | "
            f"`{_short(r.pred, 40)}` | {_short(c['response'], 70)} |"
        )
    return "\n".join(lines)


def report(rows: list[Row]) -> str:
    parts = ["# Grading corpus: ours against plain Math-Verify", ""]
    parts += ["## Per source", "", table(rows, "source"), ""]
    parts += ["## Per answer format", "", table(rows, "format"), ""]
    parts += ["## Per response style", "", table(rows, "style"), ""]
    differ = [r for r in rows if r.ours != r.base]
    parts += [f"## Cases where ours and the baseline differ ({len(differ)})", ""]
    parts += [case_lines(differ) if differ else "None.", ""]
    wrong = [r for r in rows if not r.ours]
    parts += [f"## Cases ours gets wrong ({len(wrong)})", ""]
    parts += [case_lines(wrong) if wrong else "None.", ""]
    relabelled = [r.case for r in rows if "source_label" in r.case]
    parts += [f"## Relabelled cases ({len(relabelled)})", "", relabel_table(relabelled), ""]
    return "\n".join(parts)


def relabel_table(cases: list[dict[str, Any]]) -> str:
    """The cases whose expected verdict differs from their source's label, with why."""
    lines = ["| id | source label | expected | why |", "| --- | --- | --- | --- |"]
    for c in cases:
        why = _short(c["relabel_reason"], 400)
        lines.append(f"| {c['id']} | {c['source_label']} | {c['expected']} | {why} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=str(CORPUS_DIR))
    parser.add_argument("--out", default=None, help="also write the Markdown here")
    args = parser.parse_args(argv)
    text = report(evaluate(load_corpus(Path(args.corpus))))
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
