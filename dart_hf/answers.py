"""Final-answer verdicts: Math-Verify first, a few named rules where it is measured wrong.

A verdict is decided in this order (`judge`); `Verdict.source` names what decided it:

1. `bad_gold`: the gold is empty, or neither Math-Verify nor a text rule can read it. Only the
   gold can make a row `bad_gold`; a prediction never does.
2. `unclosed_box`: the response's last `\\boxed{` is never closed (its final answer was cut):
   `no_answer`.
3. `hedge` / `multi_box`: the response boxes several distinct final answers (a repeated box
   of the same answer is one answer). That is a hedge, wrong, with status `hedge`, unless
   the gold is a set, tuple or list whose elements are exactly those answers (`multi_box`).
4. Rules for benchmark formats that Math-Verify does not read (each small and tested with the
   case that needs it): TheoremQA booleans (`bool_answer`) and options (`option_answer`);
   OlympiadBench multi-answer golds, order-free (`multi_answer`); element-wise lists
   (`list_answer`); word answers such as "converges", "odd", "Evelyn" that Math-Verify reads
   as products of symbols (`word_answer`); clock times (`clock_time`); CollegeMath golds that
   are sentences, matched as text only (`text_match`).
5. `math_verify`: the response is parsed with Math-Verify's own extraction (LaTeX with boxed
   answers first, then plain expressions; strings for option benchmarks), the gold as
   `$gold$`, and `verify(gold, pred)` decides. Integers are compared exactly (Math-Verify's
   own behaviour). Where the benchmark defines a numeric tolerance (TheoremQA: 4% relative for
   floats; OlympiadBench: the row's `error`), two numbers within it are equal
   (`tolerance`). A number in E-notation (`3.54e-07`), which Math-Verify reads as
   `3.54 * e - 7`, is read as `3.54 \\times 10^{-7}` (`e_notation`). An extracted answer
   with unbalanced brackets (`\\boxed{\\left( 2 + 3 }`) is malformed and wrong
   (`malformed_answer`). Mixed numbers (`1\\frac{4}{5}`, `4 4/9`) are read as sums
   (`mixed_number`; Math-Verify 0.9 reads them as products). A gold with one `\\pm` also
   matches the set of its two values (`plus_minus`). An unboxed answer that Math-Verify took
   from the head of an equation chain ("is 32 + 8 = 18 + 16 = 24.") is the chain's last value
   (`equation_chain`).

Everything here is pure computation; the grading pool (`dart_hf.grading`) runs it in worker
processes under a hard wall-clock limit.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Any

from dart_hf.anchors import FINAL_GROUP_GAP as FINAL_GROUP_GAP  # re-exported: box helpers
from dart_hf.anchors import Anchor, final_anchor, final_boxes, unclosed_box
from dart_hf.anchors import boxed_answers as boxed_answers
from dart_hf.anchors import boxed_spans as boxed_spans
from dart_hf.anchors import final_answer_text as final_answer_text
from dart_hf.anchors import last_boxed as last_boxed
from dart_hf.benchmarks import AnswerRules, rules_for

#: Every `grade_status`: `ok` (graded), `no_answer` (no final answer found), `hedge` (several
#: distinct final answers), `timeout` (grading passed its wall-clock limit), `error` (the
#: grader failed on the row), `truncated` (cut at max_tokens), `bad_gold` (gold unreadable),
#: `failed` (the engine returned no completion: a served model's 400, an aborted request).
#: `bad_gold` and `failed` rows are left out of accuracy; every other status counts as graded.
STATUSES = ("ok", "no_answer", "hedge", "timeout", "error", "truncated", "bad_gold", "failed")
UNGRADED = frozenset({"bad_gold", "failed"})
"""Statuses of rows that are left out of accuracy (no verdict on the model's answer)."""


def accuracy(
    correct: Sequence[bool | None], statuses: Sequence[str]
) -> tuple[int, int, float | None]:
    """The one accuracy rule: `(graded, right, right / graded)` over rows' verdicts, where
    `bad_gold` rows (gold unreadable) and `failed` ones (no completion) are left out and the
    accuracy is None when none is left.
    """
    graded = [c for c, s in zip(correct, statuses, strict=True) if s not in UNGRADED]
    right = sum(1 for c in graded if c is True)
    return len(graded), right, (right / len(graded) if graded else None)


#: Every `verdict_source`: what decided a row (see the module docstring).
VERDICT_SOURCES = (
    "math_verify", "tolerance", "malformed_answer", "hedge", "multi_box", "unclosed_box",
    "no_answer", "bool_answer", "option_answer", "multi_answer", "list_answer", "word_answer",
    "clock_time", "text_match", "e_notation", "mixed_number", "plus_minus", "equation_chain",
    "answer_section", "hash_answer", "json_answer", "answer_line", "answer_phrase", "unanchored",
    "no_anchor", "compound_quantity", "unit_variable", "percent", "set_builder", "binomial",
    "clock_hour",
    "truncated",
    "bad_gold", "timeout", "error", "engine",
)  # fmt: skip


@dataclass(frozen=True)
class Verdict:
    """Outcome of grading one item: the extracted answer, correctness, status and decider.

    `detail` names the comparison or format rule behind an `unanchored` verdict (whose source
    only says that no answer was stated); reports read it, the stored columns do not.
    """

    pred: str | None
    correct: bool | None
    status: str
    source: str = "math_verify"
    detail: str = ""


# --------------------------------------------------------------------------- text helpers

_TEXT_CMD_RE = re.compile(r"\\(?:text|textbf|textit|textrm|mathrm|mathbf|mbox|operatorname)\s*\{")
_SPACES_RE = re.compile(r"\\[,!;: ]|\\q?quad|~")


def _braced(text: str, start: int) -> str | None:
    """Content of the `{...}` group opening at `text[start]`, or None if unbalanced."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "{" and (i == 0 or text[i - 1] != "\\"):
            depth += 1
        elif text[i] == "}" and text[i - 1] != "\\":
            depth -= 1
            if depth == 0:
                return text[start + 1 : i]
    return None


def _unwrap_text_commands(s: str) -> str:
    while True:
        m = _TEXT_CMD_RE.search(s)
        if not m:
            return s
        inner = _braced(s, m.end() - 1)
        if inner is None:
            return s
        s = s[: m.start()] + inner + s[m.end() + len(inner) + 1 :]


def strip_math_delimiters(s: str) -> str:
    """Remove `$`, `\\(`/`\\)` and `\\[`/`\\]` math delimiters (keeping escaped `\\$`)."""
    s = re.sub(r"(?<!\\)\$", "", s.strip())
    s = re.sub(r"\\[()\[\]]", "", s)
    return s.strip()


def normalize_text(s: str) -> str:
    """Loose textual form for exact comparison: no delimiters, styling, spacing or case."""
    s = _unwrap_text_commands(strip_math_delimiters(s))
    s = s.replace("\\left", "").replace("\\right", "")
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    s = re.sub(r"\s+", "", _SPACES_RE.sub(" ", s)).lower()
    return s.rstrip(".").strip()


def same_text(a: str, b: str) -> bool:
    """The same answer text up to math delimiters, spacing and `\\left`/`\\dfrac` (case kept)."""
    return _spelling(a) == _spelling(b) != ""


def _spelling(s: str) -> str:
    s = strip_math_delimiters(s).replace("\\left", "").replace("\\right", "")
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    return re.sub(r"\s+", "", _SPACES_RE.sub(" ", s)).rstrip(".")


def _words(s: str) -> str:
    s = _unwrap_text_commands(strip_math_delimiters(s)).lower()
    return re.sub(r"\s+", " ", re.sub(r"[^a-z0-9 ]+", " ", s)).strip()


def _plain(s: str) -> str:
    s = _SPACES_RE.sub(" ", _unwrap_text_commands(strip_math_delimiters(s)))
    s = s.lower().strip().rstrip(".")
    return re.sub(r"\s+", " ", s)


_TRUE = {"true", "yes", "correct"}
_FALSE = {"false", "no", "incorrect"}


def to_bool(s: str) -> bool | None:
    """`True`/`False` for yes/no/true/false answers (any case, any wrapping), else None."""
    w = _words(s)
    if w in _TRUE:
        return True
    if w in _FALSE:
        return False
    first = w.split(" ")[0] if w else ""
    if first in {"true", "yes"}:
        return True
    if first in {"false", "no"} and w not in {"no solution", "no solutions"}:
        return False
    return None


_OPTION_WORDS = r"(?:(?:the\s+)?(?:correct\s+)?(?:option|choice|answer)(?:\s+is)?)?\s*"
_OPTION_RE = re.compile(rf"^{_OPTION_WORDS}\(?([a-e])\)?$")
_LEADING_OPTION_RE = re.compile(rf"^{_OPTION_WORDS}(?:\(([a-e])\)|([a-e])[:.)])(?:\s|$)")


def to_option(s: str) -> str | None:
    """Letter of a multiple-choice answer: `(a)`, `\\text{(C)}`, `option b`, `(c) J = 2K`."""
    text = _plain(s)
    m = _OPTION_RE.match(text) or _LEADING_OPTION_RE.match(text)
    return next((g for g in m.groups() if g), None) if m else None


_TIME_RE = re.compile(r"^(\d{1,2})(?::(\d{2}))?(?::(\d{2}))?\s*(a\.?m\.?|p\.?m\.?)?$")


def to_minutes(s: str) -> int | None:
    """Clock time as minutes after midnight ("5:30 PM", "17:30", "10 a.m."), else None."""
    m = _TIME_RE.match(_plain(s).replace(" ", ""))
    if not m or (m.group(2) is None and m.group(4) is None):
        return None
    hour, minute = int(m.group(1)), int(m.group(2) or 0)
    if hour > 24 or minute > 59:
        return None
    if m.group(4):
        if hour > 12:
            return None
        hour = hour % 12 + (12 if m.group(4).startswith("p") else 0)
    return hour * 60 + minute


_WORD_ANSWER_RE = re.compile(r"^[a-z][a-z '\-]*[a-z]$")
_STEMS = (
    ("convergent", "converge"),
    ("converges", "converge"),
    ("divergent", "diverge"),
    ("diverges", "diverge"),
    ("solutions", "solution"),
)


def to_words(s: str) -> str | None:
    """Normalised words of a word answer ("Diverges", "No solution", "odd"), else None."""
    raw = _plain(s)
    if "\\" in raw or not _WORD_ANSWER_RE.match(raw) or not re.search(r"[a-z]{3}", raw):
        return None
    w = _words(raw)
    for a, b in _STEMS:
        w = re.sub(rf"\b{a}\b", b, w)
    return w


def split_top_level(s: str, seps: tuple[str, ...] = (",",)) -> list[str]:
    """Split at separators outside (), [], {} (and `\\{ \\}`); parts are stripped."""
    parts: list[str] = []
    cur: list[str] = []
    depth, i = 0, 0
    while i < len(s):
        c = s[i]
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        if depth == 0:
            hit = next((sep for sep in seps if s.startswith(sep, i)), None)
            if hit is not None:
                parts.append("".join(cur).strip())
                cur = []
                i += len(hit)
                continue
        cur.append(c)
        i += 1
    parts.append("".join(cur).strip())
    return [p for p in parts if p]


def answer_elements(s: str) -> list[str]:
    """Elements of an answer written as a set, tuple, list or `a, b and c`."""
    s = strip_math_delimiters(s).replace("\\{", "{").replace("\\}", "}")
    s = s.replace("\\left", "").replace("\\right", "").strip().rstrip(".")
    if len(s) > 1 and s[0] + s[-1] in ("{}", "[]", "()") and _balanced(s[1:-1]):
        s = s[1:-1]
    return split_top_level(s, (",", ";", " and ", "\\text{ and }", " or "))


def _balanced(s: str) -> bool:
    """Opening and closing brackets are equal in number and never close before they open.

    Counts (), [] and {} together, since intervals such as `[0, 1)` close with another kind.
    """
    depth = 0
    for c in s.replace("\\{", "(").replace("\\}", ")"):
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


_MATH_SEGMENT_RE = re.compile(r"\$\$.*?\$\$|\$.*?\$|\\\(.*?\\\)|\\\[.*?\\\]", re.DOTALL)


def is_prose(text: str) -> bool:
    """Whether a gold answer is a sentence or derivation rather than a final answer.

    Such golds (CollegeMath: several lines, several words outside math) are matched only as
    text: a parser pulls stray numbers out of them and would accept unrelated predictions.
    """
    if "\n" in text.strip() or "\\begin{aligned}" in text:
        return True
    outside = re.sub(r"\\(?:begin|end)\{\w+\}(?:\{\w+\})?", " ", text)
    outside = re.sub(r"\\[A-Za-z]+", " ", _MATH_SEGMENT_RE.sub(" ", outside))
    return len(re.findall(r"[A-Za-z]{2,}", outside)) >= 3


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


def _prepare(text: str) -> str:
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

    response = _prepare(response)
    parsed = list(parse(response, extraction_config=_response_config(options),
                        parsing_timeout=timeout))  # fmt: skip
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
    gold = _prepare(gold)
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


def _verify(gold: Any, pred: Any, timeout: int) -> bool:
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
    g, p = _exact_rational(gold), _exact_rational(pred)
    return g is None or p is None or g == p


def _exact_rational(parsed: Any) -> Any:
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


def _number_of(parsed: Any) -> float | None:
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


def _within_tolerance(gold: Any, pred: Any, ctx: _Ctx) -> bool:
    """Both parses are plain numbers within the benchmark's tolerance (never without one)."""
    if ctx.rel_tol is None and ctx.abs_tol is None:
        return False
    gv, pv = _number_of(gold), _number_of(pred)
    return gv is not None and pv is not None and _within(gv, pv, ctx.rel_tol, ctx.abs_tol)


@dataclass(frozen=True)
class _Ctx:
    rel_tol: float | None
    abs_tol: float | None
    timeout: int


def _equal(gold: str, pred_text: str, ctx: _Ctx) -> bool | None:
    """Whether an answer (text) equals one gold element; None when the gold is unreadable."""
    if normalize_text(gold) == normalize_text(pred_text):
        return True
    g = parse_gold(strip_math_delimiters(gold), ctx.timeout)
    if not g:
        return None
    p = parse_gold(strip_math_delimiters(pred_text), ctx.timeout)
    if not p:
        return False
    return _verify(g, p, ctx.timeout) or _within_tolerance(g, p, ctx)


def equivalent(a: str, b: str, *, timeout: int = 5) -> bool:
    """Whether two extracted answers are the same answer (Math-Verify, `a` read as the gold).

    Used to count votes among samples (gold audit, majority voting); no tolerance applies.
    """
    ctx = _Ctx(rel_tol=None, abs_tol=None, timeout=timeout)
    return bool(_equal(a, b, ctx))


def _match_all(golds: list[str], preds: list[str], ctx: _Ctx) -> bool:
    """Every gold element matches a distinct predicted element and the counts agree."""
    if len(golds) != len(preds):
        return False
    left = list(preds)
    for g in golds:
        hit = next((i for i, p in enumerate(left) if _equal(g, p, ctx)), None)
        if hit is None:
            return False
        left.pop(hit)
    return True


def _distinct(answers: list[str], ctx: _Ctx) -> list[str]:
    """The answers with repeats (the same text, or equal by Math-Verify) removed."""
    out: list[str] = []
    for a in answers[-8:]:  # a response that boxes dozens of things is a hedge already
        if not any(_equal(b, a, ctx) for b in out):
            out.append(a)
    return out


# --------------------------------------------------------------------------- judge


@dataclass(frozen=True)
class _Item:
    """One response under judgement: what every rule of `JUDGE_RULES` reads."""

    response: str
    golds: list[str]
    kind: str
    rules: AnswerRules
    ctx: _Ctx
    multi_answer: bool
    require_anchor: bool
    anchor: Anchor | None
    boxes: list[str]


@dataclass(frozen=True)
class JudgeRule:
    """A named step of `judge`: returns the verdict, or None to let the next rule decide."""

    name: str
    decide: Callable[[_Item], Verdict | None]


def judge(
    response: str,
    gold: str | None,
    *,
    answers: list[str] | None = None,
    answer_type: str | None = None,
    multi_answer: bool = False,
    unit: str | None = None,
    tolerance: float | None = None,
    benchmark: str | None = None,
    timeout: int = 5,
    require_anchor: bool = False,
) -> Verdict:
    """Grade one response against its gold answer.

    The steps are `JUDGE_RULES`, in order; the first that returns a verdict decides.

    Args:
        response: The model's full response text.
        gold: Gold final answer as text.
        answers: Every accepted gold answer (OlympiadBench `final_answer`); defaults to `[gold]`.
        answer_type: TheoremQA/OlympiadBench answer type ("bool", "list of float", "Tuple", ...).
        multi_answer: All gold answers must be given (order-free) instead of any one.
        unit: A unit that may follow the predicted answer (Math-Verify removes units itself).
        tolerance: Absolute numeric tolerance (OlympiadBench `error`).
        benchmark: A name in `benchmarks.BENCHMARKS`; other names use the default rules.
        timeout: Seconds for Math-Verify's own (signal-based) timeouts.
        require_anchor: A response must state its answer (`anchors`): one that does not is
            `no_answer` (`no_anchor`) instead of read by Math-Verify's unanchored extraction.

    Returns:
        A `Verdict`; `correct` is None only for `bad_gold`.
    """
    del unit  # Math-Verify's unit normalisation removes trailing units
    golds = [str(a) for a in (answers or []) if a is not None and str(a).strip()]
    if not golds and gold is not None and str(gold).strip():
        golds = [str(gold)]
    if not golds or not any(normalize_text(g) for g in golds):
        return Verdict(last_boxed(response), None, "bad_gold", "bad_gold")
    rules = rules_for(benchmark)
    kind = (answer_type or "").lower()
    ctx = _Ctx(
        rel_tol=rules.float_rel_tol if kind in {"", "float", "list of float"} else None,
        abs_tol=tolerance if tolerance is not None and tolerance > 0 else None,
        timeout=timeout,
    )
    anchor = None if unclosed_box(response) else final_anchor(response)
    boxes = final_boxes(response) if anchor is not None and anchor.kind == "boxed" else []
    item = _Item(response, golds, kind, rules, ctx, multi_answer, require_anchor, anchor, boxes)
    try:
        for rule in JUDGE_RULES:
            verdict = rule.decide(item)
            if verdict is not None:
                return verdict
    except GoldTimeout:  # out of time (a huge prediction): says nothing of the gold
        return Verdict(last_boxed(response), False, "timeout", "timeout")
    raise AssertionError("the last rule of JUDGE_RULES always decides")  # pragma: no cover


def _rule_unclosed_box(item: _Item) -> Verdict | None:
    """The last `\\boxed{` never closes: its final answer was cut."""
    if unclosed_box(item.response):
        return Verdict(None, False, "no_answer", "unclosed_box")
    return None


def _rule_no_anchor(item: _Item) -> Verdict | None:
    """Where an anchored answer is required, a response without any anchor states none."""
    if item.anchor is None and item.require_anchor:
        return Verdict(None, False, "no_answer", "no_anchor")
    return None


def _rule_format(item: _Item) -> Verdict | None:
    """Golds Math-Verify does not read (booleans, options, times, words, sentences)."""
    rule = _format_rule(item.golds[0], item.kind, item.rules)
    return None if rule is None else _judge_by_rule(rule, item)


def _rule_hedge(item: _Item) -> Verdict | None:
    """Several distinct final boxes: a hedge, unless the gold is the set of them."""
    distinct = _distinct(item.boxes, item.ctx) if len(item.boxes) > 1 else item.boxes
    if len(distinct) <= 1:
        return None
    pred = " ; ".join(distinct)
    gold_elems = _gold_elements(item.golds, item.multi_answer)
    if len(gold_elems) > 1 and _match_all(gold_elems, distinct, item.ctx):
        return Verdict(pred, True, "ok", "multi_box")
    return Verdict(pred, False, "hedge", "hedge")


def _rule_text_match(item: _Item) -> Verdict | None:
    """The gold written out again in the final box or anchor: equal, and 20x cheaper (named
    `text_match` for a box, the anchor's kind for a text anchor)."""
    if item.boxes:
        stated, source = item.boxes[-1], "text_match"
    elif item.anchor is not None and item.anchor.value is not None:
        stated, source = item.anchor.value, item.anchor.kind
    else:
        return None
    if any(same_text(stated, g) for g in item.golds):
        return Verdict(stated, True, "ok", source)
    return None


def _rule_compound_quantity(item: _Item) -> Verdict | None:
    """ "18 hours and 48 minutes": read whole (in each of its units), or no answer at all."""
    a = item.anchor
    if a is None or a.kind == "boxed" or a.value is not None:
        return None
    if not a.compound:  # a compound of units that are not read whole
        return Verdict(a.clause, False, "no_answer", "compound_quantity")
    ok = any(_equal(g, v, item.ctx) for g in item.golds for v in a.compound)
    return Verdict(a.clause, ok, "ok", "compound_quantity")


def _rule_answer(item: _Item) -> Verdict:
    """The final answer compared with each gold (`COMPARE_RULES`)."""
    a, ctx, golds = item.anchor, item.ctx, item.golds
    chain_end = None
    if a is not None and a.kind != "boxed" and a.value is not None:
        pred = a.value
        parsed: Any = parse_gold(_percent_latex(pred), ctx.timeout)
        found = a.kind
        if not parsed:
            return Verdict(pred, False, "ok", found)
    else:
        parsed, extracted = parse_response(item.response, ctx.timeout, options=item.rules.options)
        if extracted is None or not extracted.strip():
            return Verdict(None, False, "no_answer", "no_answer")
        pred = extracted
        found = "math_verify" if a is not None else "unanchored"
        chain_end = None if a is not None else _chain_end(item.response, extracted)
        if chain_end is not None:  # "32 + 8 + 4 + 4 = 18 + 8 + 16 = 24." read as its head
            reparsed = parse_gold(chain_end, ctx.timeout)
            if reparsed:
                parsed, pred = reparsed, chain_end

    if item.multi_answer:
        gold_elems = _gold_elements(golds, True)
        if _match_all(gold_elems, answer_elements(pred), ctx):
            return Verdict(pred, True, "ok", "multi_answer")
        # `y = \\pm c` against the gold elements `c, -c`: Math-Verify reads both as one set
        whole = parse_gold(", ".join(gold_elems), ctx.timeout)
        ok = bool(whole) and _verify(whole, parsed, ctx.timeout)
        return Verdict(pred, ok, "ok", found if ok else "multi_answer")
    if item.kind.startswith("list"):
        # Math-Verify reads "The answer is [2, 2]." as 2: take the box or the answer's clause
        if item.boxes:
            pred = item.boxes[-1]
        elif a is not None:
            pred = a.clause
        g_elems, p_elems = answer_elements(golds[0]), answer_elements(pred)
        if len(g_elems) > 1:
            ok = len(g_elems) == len(p_elems) and all(
                _equal(g, p, ctx) for g, p in zip(g_elems, p_elems, strict=True)
            )
            return Verdict(pred, ok, "ok", "list_answer")

    box = item.boxes[-1] if item.boxes else None
    texts = {normalize_text(pred)} | ({normalize_text(box)} if box else set())
    unreadable = 0
    for g in golds:
        verdict, source = _judge_one(g, parsed, pred, box, ctx)
        if source == "math_verify":
            if verdict and mixed_numbers(f"{g} {pred}") != f"{g} {pred}":
                source = "mixed_number"
            elif chain_end is not None and pred == chain_end:
                source = "equation_chain"
            else:
                source = found
        if not verdict and normalize_text(g) in texts:  # the gold's own text, unparsed
            return Verdict(pred, True, "ok", "text_match")
        if verdict:
            if a is None:
                return Verdict(pred, True, "ok", "unanchored", source.replace(found, ""))
            return Verdict(pred, True, "ok", source)
        if verdict is None:
            unreadable += 1
        elif source not in (found, "equation_chain"):
            if a is None:
                return Verdict(pred, False, "ok", "unanchored", source.replace(found, ""))
            return Verdict(pred, False, "ok", source)
    if unreadable == len(golds):
        return Verdict(pred, None, "bad_gold", "bad_gold")
    return Verdict(pred, False, "ok", found)


#: The steps of `judge`, in order (after `bad_gold`: only the gold can make a row that).
JUDGE_RULES: tuple[JudgeRule, ...] = (
    JudgeRule("unclosed_box", _rule_unclosed_box),
    JudgeRule("no_anchor", _rule_no_anchor),
    JudgeRule("format", _rule_format),
    JudgeRule("hedge", _rule_hedge),
    JudgeRule("text_match", _rule_text_match),
    JudgeRule("compound_quantity", _rule_compound_quantity),
    JudgeRule("answer", _rule_answer),
)


def _percent_latex(value: str) -> str:
    """`50%` as `50\\%` (Math-Verify reads a bare `%` in `$...$` as a comment)."""
    return re.sub(r"(?<!\\)%", r"\\%", value)


_CHAIN_RE = re.compile(r"\s*=\s*([^\n]*?)(?:\.\s|\.?$|\n)")


def _chain_end(response: str, extracted: str) -> str | None:
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
    ctx: _Ctx


@dataclass(frozen=True)
class CompareRule:
    """A named way two answers can be equal: `equal(pair)` is True, False or None (no say)."""

    name: str
    equal: Callable[[_Pair], bool | None]


def _cmp_unit_variable(pair: _Pair) -> bool | None:
    """A gold with a one-letter variable after a number (`\\frac{1}{2}h`, `3h`), which
    Math-Verify's unit removal deletes: compared with units kept, and that decides."""
    bare = _TEXT_CMD_RE.sub("{", pair.gold)
    if not _UNIT_VARIABLE_RE.search(bare):
        return None
    kept = {str(x) for e in pair.gold_parsed if hasattr(e, "free_symbols") for x in e.free_symbols}
    written = set(re.findall(r"(?<![\\a-zA-Z])[a-zA-Z](?![a-zA-Z])", bare))
    if written <= kept:  # Math-Verify removed no letter of the gold: nothing to decide
        return None
    g = _parse_units_kept(pair.gold, pair.ctx.timeout)
    p = _parse_units_kept(pair.pred, pair.ctx.timeout)
    letters = {str(x) for e in g if hasattr(e, "free_symbols") for x in e.free_symbols}
    dropped = {str(x) for e in pair.gold_parsed if hasattr(e, "free_symbols")
               for x in e.free_symbols}  # fmt: skip
    if not g or not p or not {x for x in letters - dropped if len(x) == 1}:
        return None
    return _verify(g, p, pair.ctx.timeout)


def _cmp_math_verify(pair: _Pair) -> bool | None:
    return True if _verify(pair.gold_parsed, pair.pred_parsed, pair.ctx.timeout) else None


def _cmp_e_notation(pair: _Pair) -> bool | None:
    """`3.54e-07`, which Math-Verify reads as 3.54 * e - 7."""
    m = _E_NOTATION_RE.fullmatch(strip_math_delimiters(pair.pred))
    if not m:
        return None
    as_latex = f"${m.group(1)} \\times 10^{{{int(m.group(2))}}}$"
    ok = _verify(pair.gold_parsed, parse_gold(as_latex, pair.ctx.timeout), pair.ctx.timeout)
    return True if ok else None


def _cmp_tolerance(pair: _Pair) -> bool | None:
    return True if _within_tolerance(pair.gold_parsed, pair.pred_parsed, pair.ctx) else None


def _cmp_plus_minus(pair: _Pair) -> bool | None:
    """`\\frac{1\\pm\\sqrt{17}}{4}`: Math-Verify reads one value; the gold is both."""
    if pair.gold.count("\\pm") != 1:
        return None
    plus, minus = pair.gold.replace("\\pm", "+"), pair.gold.replace("\\pm", "-")
    both = parse_gold(plus + ", " + minus, pair.ctx.timeout)
    return True if both and _verify(both, pair.pred_parsed, pair.ctx.timeout) else None


_PERCENT_RE = re.compile(
    r"^\s*\$?\s*([-+]?\d+(?:\.\d+)?)\s*(?:\\?%|\\text\{\s*\\?%\s*\})\s*\$?\s*$"
)


def _cmp_percent(pair: _Pair) -> bool | None:
    """A percent answer `p%` equals a bare gold `p` exactly (`50.0%` for 50; Math-Verify
    compares an integer gold with the percent exactly and so accepts `50%` but not `50.0%`).
    The other directions are Math-Verify's own: a percent gold accepts the bare `p` and
    `p/100` (`28` and `0.28` for `28\\%`), and a percent answer equals `p/100` (`28%` for
    `7/25`)."""
    m = _PERCENT_RE.match(pair.pred)
    if not m or "%" in pair.gold:
        return None
    g = _exact_rational(pair.gold_parsed)
    gv = g if g is not None else _number_of(pair.gold_parsed)
    return True if gv is not None and Fraction(m.group(1)) == Fraction(str(gv)) else None


_SET_BUILDER_RE = re.compile(r"^\\\{\s*[a-z]\s*(?:\\mid|\||:|\\colon)\s*(.+?)\s*\\\}$", re.DOTALL)
_OR_RE = re.compile(r"\s*(?:\\text\{\s*or\s*\}|\bor\b|\\lor|\\vee)\s*")


def _cmp_set_builder(pair: _Pair) -> bool | None:
    """`\\{x \\mid -2 \\le x \\le 7\\}` is the relation it states (`[-2, 7]`); "or" in it is
    a union. Math-Verify compares sets with relations, not set-builder notation."""
    for side in (pair.pred, pair.gold):
        m = _SET_BUILDER_RE.match(strip_math_delimiters(side).replace("\\left", "")
                                  .replace("\\right", ""))  # fmt: skip
        if m:
            break
    else:
        return None
    parts = [x for x in _OR_RE.split(m.group(1)) if x.strip()]
    rewritten = " \\cup ".join(parts) if len(parts) > 1 else m.group(1)
    if side is pair.pred:
        p = parse_gold(rewritten, pair.ctx.timeout) if len(parts) == 1 else _union(parts, pair)
        return True if p and _verify(pair.gold_parsed, p, pair.ctx.timeout) else None
    g = parse_gold(rewritten, pair.ctx.timeout) if len(parts) == 1 else _union(parts, pair)
    return True if g and _verify(g, pair.pred_parsed, pair.ctx.timeout) else None


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
    return True if p and _verify(pair.gold_parsed, p, pair.ctx.timeout) else None


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


def _judge_one(
    gold: str, parsed: Any, pred: str, box: str | None, ctx: _Ctx
) -> tuple[bool | None, str]:
    """The verdict of `COMPARE_RULES` on one gold: `(equal, rule)`; `(None, "bad_gold")` for
    a gold Math-Verify cannot read.

    `box` is the raw final box, if any: one with unbalanced brackets is malformed (Math-Verify
    repairs `\\boxed{\\left( 2 + 3 }` into 5). Its extracted text is not checked, since it
    can cut a correct answer short (`1 - \\frac{1}{` for `$1 - \\frac{1}{\\mathrm{e}}$`).
    """
    g = parse_gold(gold, ctx.timeout)
    if not g:
        return None, "bad_gold"
    if box is not None and not _balanced(box) and _balanced(strip_math_delimiters(gold)):
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

    norm = NormalizationConfig(basic_latex=True, units=False, malformed_operators=True,
                               nits=True, boxed="all")  # fmt: skip
    text = _prepare(text)
    delimited = re.search(r"(?<!\\)\$", text) or "\\boxed" in text
    config = [LatexExtractionConfig(normalization_config=norm), ExprExtractionConfig()]
    return tuple(parse(text if delimited else f"${text}$", extraction_config=config,
                       parsing_timeout=timeout))  # fmt: skip


_E_NOTATION_RE = re.compile(r"([-+]?(?:\d+\.?\d*|\.\d+))[eE]([-+]?\d+)")


def _gold_elements(golds: list[str], multi_answer: bool) -> list[str]:
    if multi_answer and len(golds) > 1:
        return [strip_math_delimiters(g) for g in golds]
    return answer_elements(golds[0])


_PAREN_LETTER_RE = re.compile(r"\s*\$?\s*(?:\\text\{\s*)?\(\s*[A-Ea-e]\s*\)\s*\}?\s*\$?\s*")


def _format_rule(gold: str, kind: str, rules: AnswerRules) -> str | None:
    """The named rule for a gold Math-Verify does not read, or None for Math-Verify."""
    if "\\boxed" in gold:
        return None
    if kind == "bool" or (rules.options and to_bool(gold) is not None and not kind):
        return "bool_answer"
    if (
        kind == "option"
        or (rules.options or _PAREN_LETTER_RE.fullmatch(gold))
        and to_option(gold) is not None
    ):
        return "option_answer"
    if to_minutes(gold) is not None:
        return "clock_time"
    if to_words(gold) is not None:
        return "word_answer"
    if is_prose(gold):
        return "text_match"
    return None


def _judge_by_rule(rule: str, item: _Item) -> Verdict:
    """Verdict of a named format rule on the final answer: the final box, else the final
    anchor's clause (words kept), else Math-Verify's unanchored extraction (strings for
    options: "therefore I think it's B")."""
    boxes, a, ctx, golds = item.boxes, item.anchor, item.ctx, item.golds
    distinct = list(dict.fromkeys(normalize_text(b) for b in boxes))
    if len(distinct) > 1:
        return Verdict(" ; ".join(boxes), False, "hedge", "hedge")
    if boxes:
        pred: str | None = boxes[-1]
    elif a is not None:
        pred = a.clause
    elif rule == "option_answer":
        labels = LETTER_OPTIONS if re.fullmatch(r"\s*[A-E]\s*", golds[0]) else PAREN_OPTIONS
        pred = parse_response(item.response, ctx.timeout, options=labels)[1]
    else:
        pred = parse_response(item.response, ctx.timeout)[1]
    if pred is None or not pred.strip():
        return Verdict(None, False, "no_answer", "no_answer")
    # read by Math-Verify's unanchored extraction: named so (such a sample does not vote)
    rule_name = "unanchored" if not boxes and a is None else rule
    gold = golds[0]
    if rule == "bool_answer":
        ok = to_bool(pred) == to_bool(gold)
    elif rule == "option_answer":
        letter = to_option(pred)
        if letter is None and not boxes and a is not None:  # "for sure D, it can't be A"
            first = re.search(r"\(([A-Ea-e])\)|(?<![\w'])([A-E])(?![\w'])", a.clause)
            letter = next(g for g in first.groups() if g).lower() if first else None
        ok = letter is not None and letter == to_option(gold)
    elif rule == "clock_time":
        ok = to_minutes(pred) == to_minutes(gold)
    elif rule == "word_answer":
        ok = to_words(pred) == to_words(gold)
    else:
        ok = any(normalize_text(g) == normalize_text(pred) for g in golds)
    return Verdict(pred, ok, "ok", rule_name, rule if rule_name != rule else "")
