"""Answers read with Math-Verify: a response with its own extraction (after mixed numbers and
`\\mathrm{e}` are made plain), a gold as `$gold$`, and equality under a benchmark's rules."""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from typing import Any

from dart_hf.grading.text import normalize_text, strip_math_delimiters

# --------------------------------------------------------------------------- Math-Verify


#: Option labels Math-Verify's string extraction looks for: TheoremQA's `(a)`-`(e)`, and the
#: bare letters of multiple-choice golds such as `C`.
PAREN_OPTIONS = ("(a)", "(b)", "(c)", "(d)", "(e)")
LETTER_OPTIONS = ("A", "B", "C", "D", "E", "(A)", "(B)", "(C)", "(D)", "(E)")


def _response_config(options: bool | tuple[str, ...]) -> list[Any]:
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, StringExtractionConfig

    if isinstance(options, tuple):
        return [StringExtractionConfig(strings=options)]
    config: list[Any] = [LatexExtractionConfig(boxed_match_priority=0), ExprExtractionConfig()]
    if options:
        config.append(StringExtractionConfig(strings=PAREN_OPTIONS))
    return config


_MATHRM_CONSTANT_RE = re.compile(r"\\mathrm\s*\{\s*([ei])\s*\}")


_MIXED_LATEX_RE = re.compile(r"(?<![\d.}/^_{])(-?)(\d+)\s*\\[dt]?frac\s*\{(\d+)\}\s*\{(\d+)\}")
_MIXED_PLAIN_RE = re.compile(r"(?<![\d./^_])(-?)(\d+) (\d+)/(\d+)(?![\d/]|\.\d)")


def mixed_numbers(text: str) -> str:
    """Mixed numbers as sums: `1\\frac{4}{5}` -> `(1+\\frac{4}{5})`, `-4 4/9` -> `-4-4/9`.

    Math-Verify 0.9 reads `1\\frac{4}{5}` (a MATH500 gold) as 1 * 4/5 and `4 4/9` as 4; only
    a whole number followed by a proper fraction of digits is rewritten, so `11/10 4/9` and
    `2\\frac{x}{3}` are left alone.
    """
    if "frac" not in text and "/" not in text:
        return text

    def latex(m: re.Match[str]) -> str:
        sign, whole, num, den = m.groups()
        if int(num) >= int(den) or int(den) == 0:
            return m.group(0)
        return f"{sign}({whole}+\\frac{{{num}}}{{{den}}})"

    def plain(m: re.Match[str]) -> str:
        sign, whole, num, den = m.groups()
        if int(num) >= int(den) or int(den) == 0:
            return m.group(0)
        return f"{sign}{whole}{'-' if sign else '+'}{num}/{den}"

    return _MIXED_PLAIN_RE.sub(plain, _MIXED_LATEX_RE.sub(latex, text))


def _constants(text: str) -> str:
    """`\\mathrm{e}` / `\\mathrm{i}` as `e` / `i`: Math-Verify's unit removal deletes them,
    so `1 + \\frac{1}{\\mathrm{e}}` and `1 - \\frac{1}{\\mathrm{e}}` both read as 1."""
    return _MATHRM_CONSTANT_RE.sub(r"\1", text) if "mathrm" in text else text


def prepare_text(text: str) -> str:
    """The rewrites Math-Verify needs before it parses an answer or a response."""
    return mixed_numbers(_constants(text))


def parse_response(
    response: str, timeout: int, *, options: bool | tuple[str, ...] = False
) -> tuple[Any, str | None]:
    """Math-Verify's parse of a response: `(parsed list, extracted text or None)`.

    `options`: True adds string extraction of `PAREN_OPTIONS`; a tuple extracts only those
    option labels.
    """
    from math_verify import parse

    response = prepare_text(response)
    parsed = list(parse(response, extraction_config=_response_config(options), parsing_timeout=timeout))
    if not parsed:
        return parsed, None
    text = next((p for p in reversed(parsed) if isinstance(p, str)), None)
    return parsed, text if text is not None else str(parsed[0])


class GoldTimeout(Exception):
    """Math-Verify's parse of a gold ran out of time (a busy worker), so it says nothing of
    the gold: the row is a `timeout`, never `bad_gold`, and the empty parse is not cached."""


_GOLDS: dict[tuple[str, int], tuple[Any, ...]] = {}


def parse_gold(gold: str, timeout: int) -> tuple[Any, ...]:
    """Math-Verify's parse of a gold answer, read as `$gold$` unless it has `$` or a box.

    Cached per (gold, timeout), except a parse that timed out (`GoldTimeout`): cached, it made
    every later row with that gold `bad_gold` in the worker.
    """
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse

    key = (gold, timeout)
    if key in _GOLDS:
        return _GOLDS[key]
    gold = prepare_text(gold)
    delimited = re.search(r"(?<!\\)\$", gold) or "\\boxed" in gold
    text = gold if delimited else f"${gold}$"
    config = [LatexExtractionConfig(), ExprExtractionConfig()]
    start = time.monotonic()
    parsed = tuple(parse(text, extraction_config=config, parsing_timeout=timeout))
    if not parsed and time.monotonic() - start >= timeout:
        raise GoldTimeout(gold)
    if len(_GOLDS) >= 4096:
        _GOLDS.clear()
    _GOLDS[key] = parsed
    return parsed


def verify_equal(gold: Any, pred: Any, timeout: int) -> bool:
    """Math-Verify's `verify`, with exact rationals compared exactly.

    Math-Verify compares numbers as `(a - b).evalf(n=15, chop=True) == 0`, so two tiny exact
    values are equal: `\\frac{1}{2006!}` against `\\frac{1}{2004!}`, `2^{-98}` against
    `2^{-99}` (Math-Verify issue 14). Where both sides are exact rational numbers, they are
    compared as fractions instead. Sets and intervals may be compared with relations
    (`x \\in [-2, 7]` against `-2 \\le x \\le 7`).
    """
    from math_verify import verify

    if not verify(list(gold), list(pred), timeout_seconds=timeout, allow_set_relation_comp=True):
        return False
    g, p = exact_rational(gold), exact_rational(pred)
    return g is None or p is None or g == p


def exact_rational(parsed: Any) -> Any:
    """The exact value of a parse that is one rational number without floats, else None."""
    import sympy
    from math_verify.grader import is_atomic_or_pct_atomic

    expr = next((x for x in parsed if isinstance(x, sympy.Basic)), None)
    if expr is None or not expr.is_number or expr.atoms(sympy.Float):
        return None
    if is_atomic_or_pct_atomic(expr, sympy.Number):  # Math-Verify compares these exactly
        return None
    try:
        value = expr.doit()
    except Exception:  # sympy may fail on odd expressions: keep Math-Verify's verdict
        return None
    return value if isinstance(value, sympy.Rational) else None


def number_of(parsed: Any) -> float | None:
    """The value of a parse that is one plain number, else None."""
    import sympy

    for p in parsed:
        if isinstance(p, sympy.Basic) and p.is_number and not isinstance(p, sympy.Set):
            try:
                value = complex(p)
            except (TypeError, ValueError, OverflowError):
                return None
            return value.real if value.imag == 0 and math.isfinite(value.real) else None
    return None


def _within(g: float, p: float, rel_tol: float | None, abs_tol: float | None) -> bool:
    if abs_tol is not None and abs(p - g) <= abs_tol + 1e-12:
        return True
    return rel_tol is not None and abs(p - g) <= abs(g) * rel_tol


def within_tolerance(gold: Any, pred: Any, ctx: Ctx) -> bool:
    """Both parses are plain numbers within the benchmark's tolerance (never without one)."""
    if ctx.rel_tol is None and ctx.abs_tol is None:
        return False
    gv, pv = number_of(gold), number_of(pred)
    return gv is not None and pv is not None and _within(gv, pv, ctx.rel_tol, ctx.abs_tol)


@dataclass(frozen=True)
class Ctx:
    rel_tol: float | None
    abs_tol: float | None
    timeout: int


def equal_answers(gold: str, pred_text: str, ctx: Ctx) -> bool | None:
    """Whether an answer (text) equals one gold element; None when the gold is unreadable."""
    if normalize_text(gold) == normalize_text(pred_text):
        return True
    g = parse_gold(strip_math_delimiters(gold), ctx.timeout)
    if not g:
        return None
    p = parse_gold(strip_math_delimiters(pred_text), ctx.timeout)
    if not p:
        return False
    return verify_equal(g, p, ctx.timeout) or within_tolerance(g, p, ctx)


def equivalent(a: str, b: str, *, timeout: int = 5) -> bool:
    """Whether two extracted answers are the same answer (Math-Verify, `a` read as the gold).

    Used to count votes among samples (gold audit, majority voting); no tolerance applies.
    """
    ctx = Ctx(rel_tol=None, abs_tol=None, timeout=timeout)
    return bool(equal_answers(a, b, ctx))


def match_all(golds: list[str], preds: list[str], ctx: Ctx) -> bool:
    """Every gold element matches a distinct predicted element and the counts agree."""
    if len(golds) != len(preds):
        return False
    left = list(preds)
    for g in golds:
        hit = next((i for i, p in enumerate(left) if equal_answers(g, p, ctx)), None)
        if hit is None:
            return False
        left.pop(hit)
    return True


def distinct_answers(answers: list[str], ctx: Ctx) -> list[str]:
    """The answers with repeats (the same text, or equal by Math-Verify) removed."""
    out: list[str] = []
    for a in answers[-8:]:  # a response that boxes dozens of things is a hedge already
        if not any(equal_answers(b, a, ctx) for b in out):
            out.append(a)
    return out
