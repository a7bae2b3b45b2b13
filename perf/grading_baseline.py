"""Plain Math-Verify baseline for the outside grading corpus (issue 12).

The baseline is exactly: the pinned math-verify with its default extraction configurations,
the gold parsed as `$gold$` unless it already holds `$` or `\\boxed`, and
`verify(parse(gold), parse(response))` with verify's defaults. Nothing else: no statuses, no
benchmark rules, no tolerance.

    .venv/bin/python perf/grading_baseline.py GOLD RESPONSE
    .venv/bin/python perf/grading_baseline.py --corpus [tests/data/grading_corpus]

The first form prints the verdict (and what was parsed); the second prints the baseline's
agreement with the corpus' expected verdicts per source.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CORPUS_DIR = Path(__file__).resolve().parents[1] / "tests" / "data" / "grading_corpus"


def gold_text(gold: str) -> str:
    """The gold as the baseline parses it: wrapped in `$...$` unless it holds `$` or `\\boxed`."""
    if "$" in gold or "\\boxed" in gold:
        return gold
    return f"${gold}$"


@dataclass(frozen=True)
class BaselineOutcome:
    """What plain Math-Verify made of one case."""

    correct: bool
    gold_parsed: list[Any]
    pred_parsed: list[Any]


def baseline_outcome(gold: str, response: str) -> BaselineOutcome:
    """Parse both sides with the default configurations and verify them."""
    from math_verify import parse, verify

    try:
        g = parse(gold_text(gold))
    except Exception:
        g = []
    try:
        p = parse(response)
    except Exception:
        p = []
    try:
        ok = bool(verify(g, p))
    except Exception:
        ok = False
    return BaselineOutcome(ok, list(g), list(p))


def baseline_verdict(gold: str, response: str) -> bool:
    """Plain Math-Verify's verdict: `verify(parse(gold), parse(response))`."""
    return baseline_outcome(gold, response).correct


def baseline_agrees(case: dict[str, Any]) -> bool:
    """Whether the baseline agrees with a corpus case's `expected` verdict.

    `true`/`false` compare with the verdict. The baseline has no statuses, so for
    `"no_answer"` it agrees only when it extracted nothing from the response, and for
    `"bad_gold"` only when it extracted nothing from the gold.
    """
    out = baseline_outcome(case["gold"], case["response"])
    expected = case["expected"]
    if expected == "no_answer":
        return not out.pred_parsed
    if expected == "bad_gold":
        return not out.gold_parsed
    return out.correct is bool(expected)


def _load_corpus(folder: Path) -> list[dict[str, Any]]:
    cases = []
    for path in sorted(folder.glob("*.jsonl")):
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    cases.append(json.loads(line))
    return cases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("gold", nargs="?")
    parser.add_argument("response", nargs="?")
    parser.add_argument("--corpus", nargs="?", const=str(CORPUS_DIR), default=None)
    args = parser.parse_args(argv)
    if args.corpus:
        per: dict[str, list[int]] = {}
        for case in _load_corpus(Path(args.corpus)):
            tally = per.setdefault(case["source"], [0, 0])
            tally[0] += baseline_agrees(case)
            tally[1] += 1
        print("| source | agree | n | rate |\n| --- | ---: | ---: | ---: |")
        for src, (a, n) in sorted(per.items()):
            print(f"| {src} | {a} | {n} | {a / n:.1%} |")
        total_a = sum(a for a, _ in per.values())
        total_n = sum(n for _, n in per.values())
        if total_n:
            print(f"| **all** | {total_a} | {total_n} | {total_a / total_n:.1%} |")
        return 0
    if args.gold is None or args.response is None:
        parser.error("give GOLD and RESPONSE, or --corpus")
    out = baseline_outcome(args.gold, args.response)
    print(
        json.dumps(
            {
                "correct": out.correct,
                "gold": [str(x) for x in out.gold_parsed],
                "pred": [str(x) for x in out.pred_parsed],
            },
            ensure_ascii=False,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
