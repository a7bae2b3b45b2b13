"""The outside grading corpus (issue 12): our grader never below plain Math-Verify.

Every `tests/data/grading_corpus/*.jsonl` file is loaded (the outside sources and, when
present, the embedded model's real responses). Each case is graded by `judge` directly (no
worker pool; Math-Verify's signal timeouts need the main thread) and by the plain
Math-Verify baseline of `perf/grading_baseline.py`. Per source, ours must agree with the
expected verdicts at least as often as the baseline, and overall at 97% or more. On failure
the per-source, per-format and per-style tables and the cases ours gets wrong are shown.
"""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "perf"))

from grading_corpus_report import (  # noqa: E402
    CAPABLE_FILES,
    EXPECTED_VALUES,
    Row,
    case_lines,
    evaluate,
    held_out,
    load_corpus,
    table,
)

CORPUS = REPO / "tests" / "data" / "grading_corpus"
REAL_FILE = "embedded_real.jsonl"
FORMATS = {
    "integer",
    "big_integer",
    "decimal",
    "fraction",
    "percent",
    "units",
    "expression",
    "interval",
    "set_tuple",
    "matrix",
    "equation",
    "text",
    "option",
    "boolean",
    "base",
    "time",
    "multi_box",
    "hedge",
    "no_answer",
    "near_miss",
}
"""The answer-format categories documented in the corpus README."""
OVERALL_MIN = 0.97
OUTSIDE_MIN_CASES = 300
CAPABLE_MIN = 0.97
"""Agreement required on the real capable-model responses of issue 26."""
CAPABLE_MIN_CASES, CAPABLE_MIN_NEAR_MISSES, CAPABLE_MIN_PROSE = 150, 40, 30

pytest.importorskip("math_verify")


@lru_cache(maxsize=1)
def _cases() -> tuple[dict, ...]:
    return tuple(load_corpus(CORPUS))


@lru_cache(maxsize=1)
def _rows() -> tuple[Row, ...]:
    return tuple(evaluate(_cases()))


def _outside() -> list[dict]:
    return [c for c in _cases() if c["_file"] != REAL_FILE]


def _tables(rows: list[Row]) -> str:
    wrong = [r for r in rows if not r.ours]
    return "\n\n".join(
        [
            table(rows, "source"),
            table(rows, "format"),
            table(rows, "style"),
            f"cases ours gets wrong ({len(wrong)}):\n" + case_lines(wrong),
        ]
    )


def test_corpus_cases_are_well_formed():
    cases = _cases()
    assert cases, f"no corpus files in {CORPUS}"
    problems = []
    ids: set[object] = set()
    for c in cases:
        where = f"{c['_file']}:{c['_line']}"
        for field in ("id", "source", "provenance", "gold", "response", "expected"):
            if field not in c or c[field] in (None, "", {}):
                problems.append(f"{where}: missing {field}")
        if c.get("id") in ids:
            problems.append(f"{where}: duplicate id {c.get('id')}")
        ids.add(c.get("id"))
        if (
            c.get("expected") not in EXPECTED_VALUES
            or isinstance(c.get("expected"), int)
            and (not isinstance(c.get("expected"), bool))
        ):
            problems.append(f"{where}: expected {c.get('expected')!r} is not one of {EXPECTED_VALUES}")
        if not isinstance(c.get("gold"), str) or not isinstance(c.get("response"), str):
            problems.append(f"{where}: gold and response must be text")
        if c["_file"] == REAL_FILE:
            continue
        prov = c.get("provenance")
        if isinstance(prov, dict):
            if not (prov.get("url") or (prov.get("repo") and prov.get("path"))):
                problems.append(f"{where}: provenance needs a url, or a repo and a path")
            if prov.get("repo") and not (prov.get("commit") or prov.get("url")):
                problems.append(f"{where}: provenance of a repository file needs its commit")
        elif not isinstance(prov, str):
            problems.append(f"{where}: provenance must be an object or text")
        if c.get("format") not in FORMATS:
            problems.append(f"{where}: format {c.get('format')!r} is not documented")
        if ("source_label" in c) != ("relabel_reason" in c):
            problems.append(f"{where}: a relabelled case needs source_label and relabel_reason")
        if "source_label" in c and c["source_label"] == c["expected"]:
            problems.append(f"{where}: source_label equals expected, so nothing was relabelled")
    assert not problems, "\n".join(problems[:50])


def test_outside_corpus_size():
    outside = _outside()
    assert len(outside) >= OUTSIDE_MIN_CASES, f"{len(outside)} outside cases"
    assert len({c["source"] for c in outside}) >= 5


def test_grader_never_below_math_verify_per_source():
    rows = list(_rows())
    worse = []
    for source in sorted({r.case["source"] for r in rows}):
        group = [r for r in rows if r.case["source"] == source]
        ours, base = sum(r.ours for r in group), sum(r.base for r in group)
        if ours < base:
            worse.append(f"{source}: ours {ours}/{len(group)} < baseline {base}/{len(group)}")
    assert not worse, "\n".join(worse) + "\n\n" + _tables(rows)


def test_grader_agrees_overall():
    """97% over the English cases; the multilingual ones are reported beside (README "Scope")."""
    rows = list(_rows())
    english = [r for r in rows if not r.case.get("scope")]
    other = [r for r in rows if r.case.get("scope")]
    rate = sum(r.ours for r in english) / len(english)
    print(
        f"\nours {sum(r.ours for r in english)}/{len(english)} = {rate:.1%} (English); "
        f"multilingual {sum(r.ours for r in other)}/{len(other)}"
    )
    assert rate >= OVERALL_MIN, f"overall agreement {rate:.1%} < {OVERALL_MIN:.0%}\n\n" + _tables(english)


def test_real_capable_model_cases() -> None:
    """Issue 26: real responses of capable models, labelled under `LABELLING.md`; the held-out
    third (`held_out`) is reported apart."""
    rows = [r for r in _rows() if r.case["_file"] in CAPABLE_FILES]
    assert len(rows) >= CAPABLE_MIN_CASES, f"{len(rows)} capable-model cases"
    assert sum(1 for r in rows if r.case.get("near_miss")) >= CAPABLE_MIN_NEAR_MISSES
    prose = [r for r in rows if r.case.get("benchmark") == "gsm8k" and r.case["style"] != "boxed"]
    assert len(prose) >= CAPABLE_MIN_PROSE, f"{len(prose)} GSM8K-style prose answers"
    for r in rows:
        assert r.case.get("licence") and r.case.get("model"), r.case["id"]
        assert r.case.get("answer_state") in ("stated", "none"), r.case["id"]
    held = [r for r in rows if held_out(r.case)]
    tuned = [r for r in rows if not held_out(r.case)]
    for name, group in (("tuning two thirds", tuned), ("held-out third", held)):
        ours, base = sum(r.ours for r in group), sum(r.base for r in group)
        print(f"\n{name}: ours {ours}/{len(group)}, plain Math-Verify {base}/{len(group)}")
    rate = sum(r.ours for r in rows) / len(rows)
    assert rate >= CAPABLE_MIN, f"capable-model cases {rate:.1%} < {CAPABLE_MIN:.0%}\n\n" + (_tables(rows))
