"""When Math-Verify's comparison is measured wrong: an ordered tuple of named comparison rules
(`COMPARE_RULES`) tried on a gold and a prediction (units kept as variables, E-notation,
tolerances, plus-minus, percent, set-builder and binomial forms, clock hours)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Any

from dart_hf.grading.parse import (
    Ctx,
    exact_rational,
    number_of,
    parse_gold,
    prepare_text,
    verify_equal,
    within_tolerance,
)
from dart_hf.grading.text import TEXT_CMD_RE, balanced, strip_math_delimiters, to_minutes


def percent_latex(value: str) -> str:
    """`50%` as `50\\%` (Math-Verify reads a bare `%` in `$...$` as a comment)."""
    return re.sub(r"(?<!\\)%", r"\\%", value)


_CHAIN_RE = re.compile(r"\s*=\s*([^\n]*?)(?:\.\s|\.?$|\n)")


def equation_chain_end(response: str, extracted: str) -> str | None:
    """The last value of an equation chain that Math-Verify's extraction took the head of.

    Math-Verify's expression extraction reads "... 32 + 8 + 4 + 4 = 18 + 8 + 16 = 24." as
    32 + 8 + 4 + 4 (48, the gold, while the response's answer is 24). When the extracted text
    is followed by `=`, the response's answer is the chain's last part.
    """
    text = extracted.strip().rstrip(".")
    at = response.rfind(text) if text else -1
    if at < 0:
        return None
    m = _CHAIN_RE.match(response, at + len(text))
    if m is None:
        return None
    last = m.group(1).split("=")[-1].strip().rstrip(".").strip()
    return last if last and last != text else None


@dataclass(frozen=True)
class _Pair:
    """A gold and a prediction, as text and as Math-Verify parsed them."""

    gold: str
    gold_parsed: Any
    pred: str
    pred_parsed: Any
    ctx: Ctx


@dataclass(frozen=True)
class CompareRule:
    """A named way two answers can be equal: `equal(pair)` is True, False or None (no say)."""

    name: str
    equal: Callable[[_Pair], bool | None]


def _cmp_unit_variable(pair: _Pair) -> bool | None:
    """A gold with a one-letter variable after a number (`\\frac{1}{2}h`, `3h`), which
    Math-Verify's unit removal deletes: compared with units kept, and that decides."""
    bare = TEXT_CMD_RE.sub("{", pair.gold)
    if not _UNIT_VARIABLE_RE.search(bare):
        return None
    kept = {str(x) for e in pair.gold_parsed if hasattr(e, "free_symbols") for x in e.free_symbols}
    written = set(re.findall(r"(?<![\\a-zA-Z])[a-zA-Z](?![a-zA-Z])", bare))
    if written <= kept:  # Math-Verify removed no letter of the gold: nothing to decide
        return None
    g = _parse_units_kept(pair.gold, pair.ctx.timeout)
    p = _parse_units_kept(pair.pred, pair.ctx.timeout)
    letters = {str(x) for e in g if hasattr(e, "free_symbols") for x in e.free_symbols}
    dropped = {str(x) for e in pair.gold_parsed if hasattr(e, "free_symbols") for x in e.free_symbols}
    if not g or not p or not {x for x in letters - dropped if len(x) == 1}:
        return None
    return verify_equal(g, p, pair.ctx.timeout)


def _cmp_math_verify(pair: _Pair) -> bool | None:
    return True if verify_equal(pair.gold_parsed, pair.pred_parsed, pair.ctx.timeout) else None


def _cmp_e_notation(pair: _Pair) -> bool | None:
    """`3.54e-07`, which Math-Verify reads as 3.54 * e - 7."""
    m = _E_NOTATION_RE.fullmatch(strip_math_delimiters(pair.pred))
    if not m:
        return None
    as_latex = f"${m.group(1)} \\times 10^{{{int(m.group(2))}}}$"
    ok = verify_equal(pair.gold_parsed, parse_gold(as_latex, pair.ctx.timeout), pair.ctx.timeout)
    return True if ok else None


def _cmp_tolerance(pair: _Pair) -> bool | None:
    return True if within_tolerance(pair.gold_parsed, pair.pred_parsed, pair.ctx) else None


def _cmp_plus_minus(pair: _Pair) -> bool | None:
    """`\\frac{1\\pm\\sqrt{17}}{4}`: Math-Verify reads one value; the gold is both."""
    if pair.gold.count("\\pm") != 1:
        return None
    plus, minus = pair.gold.replace("\\pm", "+"), pair.gold.replace("\\pm", "-")
    both = parse_gold(plus + ", " + minus, pair.ctx.timeout)
    return True if both and verify_equal(both, pair.pred_parsed, pair.ctx.timeout) else None


_PERCENT_RE = re.compile(r"^\s*\$?\s*([-+]?\d+(?:\.\d+)?)\s*(?:\\?%|\\text\{\s*\\?%\s*\})\s*\$?\s*$")


def _cmp_percent(pair: _Pair) -> bool | None:
    """A percent answer `p%` equals a bare gold `p` exactly (`50.0%` for 50; Math-Verify
    compares an integer gold with the percent exactly and so accepts `50%` but not `50.0%`).
    The other directions are Math-Verify's own: a percent gold accepts the bare `p` and
    `p/100` (`28` and `0.28` for `28\\%`), and a percent answer equals `p/100` (`28%` for
    `7/25`)."""
    m = _PERCENT_RE.match(pair.pred)
    if not m or "%" in pair.gold:
        return None
    g = exact_rational(pair.gold_parsed)
    gv = g if g is not None else number_of(pair.gold_parsed)
    return True if gv is not None and Fraction(m.group(1)) == Fraction(str(gv)) else None


_SET_BUILDER_RE = re.compile(r"^\\\{\s*[a-z]\s*(?:\\mid|\||:|\\colon)\s*(.+?)\s*\\\}$", re.DOTALL)
_OR_RE = re.compile(r"\s*(?:\\text\{\s*or\s*\}|\bor\b|\\lor|\\vee)\s*")


def _cmp_set_builder(pair: _Pair) -> bool | None:
    """`\\{x \\mid -2 \\le x \\le 7\\}` is the relation it states (`[-2, 7]`); "or" in it is
    a union. Math-Verify compares sets with relations, not set-builder notation."""
    for side in (pair.pred, pair.gold):
        m = _SET_BUILDER_RE.match(strip_math_delimiters(side).replace("\\left", "").replace("\\right", ""))
        if m:
            break
    else:
        return None
    parts = [x for x in _OR_RE.split(m.group(1)) if x.strip()]
    rewritten = " \\cup ".join(parts) if len(parts) > 1 else m.group(1)
    if side is pair.pred:
        p = parse_gold(rewritten, pair.ctx.timeout) if len(parts) == 1 else _union(parts, pair)
        return True if p and verify_equal(pair.gold_parsed, p, pair.ctx.timeout) else None
    g = parse_gold(rewritten, pair.ctx.timeout) if len(parts) == 1 else _union(parts, pair)
    return True if g and verify_equal(g, pair.pred_parsed, pair.ctx.timeout) else None


def _union(relations: list[str], pair: _Pair) -> tuple[Any, ...]:
    """The union of the sets that one-variable relations (`x < -2`, `x > 3`) describe."""
    import sympy

    sets = []
    for rel in relations:
        parsed = parse_gold(rel, pair.ctx.timeout)
        expr = next((e for e in parsed if isinstance(e, sympy.Basic)), None)
        if expr is None or len(expr.free_symbols) != 1:
            return ()
        try:
            sets.append(expr.as_set())
        except Exception:  # not a relation sympy can solve
            return ()
    return (sympy.Union(*sets),)


_BINOMIAL_RES = (
    re.compile(r"\bC\s*\(\s*(\d+)\s*,\s*(\d+)\s*\)"),  # C(8, 2)
    re.compile(r"(?:\{\s*\}\s*)?_\{?(\d+)\}?\s*C_\{?(\d+)\}?"),  # _8C_2, {}_{8}C_{2}
    re.compile(r"\b(\d+)\s*C\s*(\d+)\b"),  # 8C2
    re.compile(r"\b(\d+)\s+choose\s+(\d+)\b", re.IGNORECASE),  # 8 choose 2
)


def _cmp_binomial(pair: _Pair) -> bool | None:
    """`C(8,2)`, `_8C_2`, `8C2`, "8 choose 2": written as `\\binom{8}{2}`, which Math-Verify
    reads (it also reads `{8 \\choose 2}` and `\\dbinom`)."""
    text = pair.pred
    for pattern in _BINOMIAL_RES:
        text = pattern.sub(lambda m: f"\\binom{{{m.group(1)}}}{{{m.group(2)}}}", text)
    if text == pair.pred:
        return None
    p = parse_gold(text, pair.ctx.timeout)
    return True if p and verify_equal(pair.gold_parsed, p, pair.ctx.timeout) else None


def _cmp_clock_hour(pair: _Pair) -> bool | None:
    """A clock time on the hour (`2:00 pm`) for a gold that is that hour (`2`: GSM8K's "what
    time" golds are bare hours)."""
    minutes = to_minutes(pair.pred)
    gold = pair.gold.strip()
    if minutes is None or minutes % 60 or not re.fullmatch(r"\d{1,2}", gold):
        return None
    hour = minutes // 60
    return True if int(gold) in (hour, hour % 12 or 12) else None


#: How an answer can equal a gold, in order: the first rule with a say decides.
COMPARE_RULES: tuple[CompareRule, ...] = (
    CompareRule("unit_variable", _cmp_unit_variable),
    CompareRule("math_verify", _cmp_math_verify),
    CompareRule("e_notation", _cmp_e_notation),
    CompareRule("tolerance", _cmp_tolerance),
    CompareRule("plus_minus", _cmp_plus_minus),
    CompareRule("percent", _cmp_percent),
    CompareRule("set_builder", _cmp_set_builder),
    CompareRule("binomial", _cmp_binomial),
    CompareRule("clock_hour", _cmp_clock_hour),
)


def judge_one(gold: str, parsed: Any, pred: str, box: str | None, ctx: Ctx) -> tuple[bool | None, str]:
    """The verdict of `COMPARE_RULES` on one gold: `(equal, rule)`; `(None, "bad_gold")` for
    a gold Math-Verify cannot read.

    `box` is the raw final box, if any: one with unbalanced brackets is malformed (Math-Verify
    repairs `\\boxed{\\left( 2 + 3 }` into 5). Its extracted text is not checked, since it
    can cut a correct answer short (`1 - \\frac{1}{` for `$1 - \\frac{1}{\\mathrm{e}}$`).
    """
    g = parse_gold(gold, ctx.timeout)
    if not g:
        return None, "bad_gold"
    if box is not None and not balanced(box) and balanced(strip_math_delimiters(gold)):
        return False, "malformed_answer"
    pair = _Pair(gold, g, pred, parsed, ctx)
    for rule in COMPARE_RULES:
        equal = rule.equal(pair)
        if equal is not None:
            return equal, rule.name
    return False, "math_verify"


_UNIT_VARIABLE_RE = re.compile(r"(?:\d|\})\s*[a-zA-Z](?![a-zA-Z{])|(?<![\\a-zA-Z])[a-zA-Z]\s*$")


@lru_cache(maxsize=1024)
def _parse_units_kept(text: str, timeout: int) -> tuple[Any, ...]:
    """Math-Verify's parse with its unit removal off (a letter after a number stays)."""
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse
    from math_verify.parser import NormalizationConfig

    norm = NormalizationConfig(
        basic_latex=True, units=False, malformed_operators=True, nits=True, boxed="all"
    )
    text = prepare_text(text)
    delimited = re.search(r"(?<!\\)\$", text) or "\\boxed" in text
    config = [LatexExtractionConfig(normalization_config=norm), ExprExtractionConfig()]
    return tuple(parse(text if delimited else f"${text}$", extraction_config=config, parsing_timeout=timeout))


_E_NOTATION_RE = re.compile(r"([-+]?(?:\d+\.?\d*|\.\d+))[eE]([-+]?\d+)")
