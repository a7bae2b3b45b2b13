"""Our grader against plain Math-Verify on the outside grading corpus, as Markdown.

Prints agreement with the expected verdicts per source, per answer format and per response
style (ours and the baseline of `grading_baseline.py`), the real capable-model cases of issue
26 and their held-out third apart, then every case where ours differs from the baseline (with
the rule that made the difference), every case ours gets wrong, and, with `--before REV`, every
case whose verdict changed against the grader of a git revision (run in a child process).

    .venv/bin/python perf/grading_corpus_report.py [--corpus DIR] [--out report.md]
        [--before REV]

The corpus, its fields and the agreement conventions are described in
`tests/data/grading_corpus/README.md`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from grading_baseline import CORPUS_DIR, baseline_outcome  # noqa: E402

EXPECTED_VALUES = (True, False, "no_answer", "bad_gold")
JUDGE_KWARGS = ("answers", "answer_type", "multi_answer", "unit", "tolerance", "benchmark")
#: The real responses of capable models added by issue 26 (labelled under `LABELLING.md`).
CAPABLE_FILES = ("zeroeval_outputs.jsonl", "auto_cot_demos.jsonl")
REPO = Path(__file__).resolve().parents[1]


def held_out(case: dict[str, Any]) -> bool:
    """The held-out third of `LABELLING.md`: `int(sha256(id), 16) % 3 == 0`."""
    return int(hashlib.sha256(str(case["id"]).encode()).hexdigest(), 16) % 3 == 0


#: What each rule of ours does that plain Math-Verify does not (the "why" of a difference).
WHY = {
    "json_answer": "ours reads the JSON `answer` field; Math-Verify takes an expression of the reasoning",
    "answer_phrase": 'ours reads the value after "the answer is" to the end of its clause',
    "answer_line": "ours reads the `Answer:` line's value",
    "hash_answer": "ours reads the `####` line",
    "answer_section": "ours reads the `# Answer` section",
    "unanchored": "no answer is stated (no anchor): read by Math-Verify's own extraction, "
    "after ours rewrites mixed numbers and `\\mathrm{e}`, and compared with exact rationals "
    "and set relations",
    "option_answer": "ours compares option letters (in prose, parentheses, or a box with its text)",
    "bool_answer": "ours compares yes/no/true/false answers",
    "word_answer": "ours compares word answers as words",
    "multi_answer": "all gold answers must be given, in any order",
    "list_answer": "lists compared element by element",
    "math_verify": "Math-Verify's extraction; ours compares exact rationals exactly and sets "
    "with relations (`allow_set_relation_comp`)",
    "text_match": "the answer is the gold's own text",
    "compound_quantity": "a compound quantity read whole",
    "percent": "a percent answer equals the bare gold exactly",
    "unit_variable": "a one-letter variable is kept, not removed as a unit",
    "set_builder": "set-builder notation read as its relation",
    "binomial": "a binomial notation Math-Verify does not read",
    "clock_hour": "a clock time on the hour for an hour gold",
    "hedge": "distinct final boxes: a hedge",
    "multi_box": "several boxes that together are the gold set",
    "tolerance": "the benchmark's numeric tolerance",
    "mixed_number": "a mixed number read as a sum",
    "e_notation": "E-notation read as a power of ten",
    "plus_minus": "a gold with \\pm matches both values",
    "malformed_answer": "a box with unbalanced brackets is malformed",
    "unclosed_box": "the last box never closes: no answer",
    "truncated": "cut at max_tokens: wrong",
}


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
    detail: str = ""


def evaluate(cases: Iterable[dict[str, Any]]) -> list[Row]:
    """Grade every case with `judge` and with the baseline, in this process."""
    from dart_hf.grading.verdict import judge

    rows = []
    for case in cases:
        detail = ""
        try:
            if case.get("finish_reason") == "length":  # as grade_batch decides it
                pred, correct, status, vsrc = None, False, "truncated", "truncated"
            else:
                v = judge(case["response"], case["gold"], **judge_kwargs(case))
                pred, correct, status = v.pred, v.correct, v.status
                vsrc = getattr(v, "source", None) or getattr(v, "verdict_source", None)
                detail = getattr(v, "detail", "")
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
                detail,
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
        "| id | format | expected | ours (status, source) | baseline | gold | pred | response end |",
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


def why_lines(rows: list[Row]) -> str:
    """Every case where ours and the baseline differ, with the rule that decided ours."""
    lines = ["| id | expected | ours | baseline | why |", "| --- | --- | --- | --- | --- |"]
    for r in rows:
        rule = r.verdict_source or "-"
        why = WHY.get(rule, rule)
        if r.detail:  # the rule behind an unanchored verdict
            why = f"{why}; decided by `{r.detail}`: {WHY.get(r.detail, r.detail)}"
        mark = "ok" if r.ours else "WRONG"
        ours = f"{mark}: {r.correct} ({r.status}, {rule}) `{_short(r.pred, 30)}`"
        base = f"{'ok' if r.base else 'WRONG'}: {r.base_correct} `{_short(r.base_pred, 30)}`"
        lines.append(f"| {r.case['id']} | {r.case['expected']} | {ours} | {base} | {why} |")
    return "\n".join(lines)


def report(rows: list[Row], before: dict[str, Any] | None = None) -> str:
    parts = ["# Grading corpus: ours against plain Math-Verify", ""]
    parts += ["## Per source", "", table(rows, "source"), ""]
    capable = [r for r in rows if r.case["_file"] in CAPABLE_FILES]
    if capable:
        tuned = [r for r in capable if not held_out(r.case)]
        held = [r for r in capable if held_out(r.case)]
        parts += ["## Real capable-model cases (issue 26), tuning two thirds", ""]
        parts += [table(tuned, "source"), ""]
        parts += ["## Held-out third (issue 26; untouched while rules were written)", ""]
        parts += [table(held, "source"), ""]
        parts += ["## Real capable-model cases per near miss", "", table(capable, "near_miss"), ""]
    parts += ["## Per answer format", "", table(rows, "format"), ""]
    parts += ["## Per response style", "", table(rows, "style"), ""]
    differ = [r for r in rows if r.ours != r.base]
    parts += [f"## Cases where ours and the baseline differ ({len(differ)}), with why", ""]
    parts += [why_lines(differ) if differ else "None.", ""]
    if before is not None:
        parts += before_section(rows, before)
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


CHILD = r"""
import json, sys, logging
logging.disable(logging.WARNING)
try:  # the grading package (after the package layout issue), else the flat modules before it
    from dart_hf.grading.verdict import judge
except ImportError:
    from dart_hf.answers import judge
cases = json.load(open(sys.argv[1]))
out = {}
for c in cases:
    if c.get("finish_reason") == "length":
        out[c["id"]] = [None, False, "truncated"]
        continue
    try:
        v = judge(c["response"], c["gold"], **c["kwargs"])
        out[c["id"]] = [v.pred, v.correct, v.status]
    except Exception as exc:
        out[c["id"]] = [None, None, "exception: " + repr(exc)[:80]]
json.dump(out, open(sys.argv[2], "w"))
"""


def verdicts_at(revision: str, cases: list[dict[str, Any]]) -> dict[str, Any]:
    """`{id: [pred, correct, status]}` of the grader of a git revision, in a child process."""
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(
            ["git", "archive", revision, "dart_hf"], cwd=REPO, capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        src, dst = Path(tmp, "cases.json"), Path(tmp, "verdicts.json")
        slim = [
            {
                "id": c["id"],
                "response": c["response"],
                "gold": c["gold"],
                "finish_reason": c.get("finish_reason"),
                "kwargs": judge_kwargs(c),
            }
            for c in cases
        ]
        src.write_text(json.dumps(slim), encoding="utf-8")
        env = {**os.environ, "PYTHONPATH": tmp}
        subprocess.run([sys.executable, "-c", CHILD, str(src), str(dst)], env=env, check=True, cwd=tmp)
        return {"revision": revision, "verdicts": json.loads(dst.read_text(encoding="utf-8"))}


def before_section(rows: list[Row], before: dict[str, Any]) -> list[str]:
    """Cases whose agreement changed against the grader of `before["revision"]`."""
    old = before["verdicts"]
    fixed, broke = [], []
    for r in rows:
        v = old.get(r.case["id"])
        if v is None:
            continue
        was = agrees(r.case["expected"], v[1], v[2])
        if was != r.ours:
            (fixed if r.ours else broke).append((r, v))
    lines = [f"## Against the grader at {before['revision']}", ""]
    lines += [f"{len(fixed)} cases now agree that did not; {len(broke)} no longer agree.", ""]
    lines += ["| id | expected | before (status) | now (status, source) | near miss |"]
    lines += ["| --- | --- | --- | --- | --- |"]
    for r, v in [*fixed, *broke]:
        near = r.case.get("near_miss", "-")
        lines.append(
            f"| {r.case['id']} | {r.case['expected']} | {v[1]} ({v[2]}) | {r.correct} "
            f"({r.status}, {r.verdict_source}) | {near} |"
        )
    return [*lines, ""]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=str(CORPUS_DIR))
    parser.add_argument("--out", default=None, help="also write the Markdown here")
    parser.add_argument("--before", default=None, help="git revision of a grader to compare")
    args = parser.parse_args(argv)
    cases = load_corpus(Path(args.corpus))
    before = verdicts_at(args.before, cases) if args.before else None
    text = report(evaluate(cases), before)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
