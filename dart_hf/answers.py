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
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

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
    "truncated",
    "bad_gold", "timeout", "error", "engine",
)  # fmt: skip


@dataclass(frozen=True)
class Verdict:
    """Outcome of grading one item: the extracted answer, correctness, status and decider."""

    pred: str | None
    correct: bool | None
    status: str
    source: str = "math_verify"


# --------------------------------------------------------------------------- boxes

_BOX_RE = re.compile(r"\\(?:boxed|fbox)\b")


def boxed_spans(text: str) -> tuple[list[str], bool]:
    """Contents of every top-level `\\boxed{...}` / `\\fbox{...}` in order.

    Returns:
        `(contents, unclosed)`: `unclosed` is True when the last box is never closed.
    """
    return boxed_answers(text), _unclosed(text)


def _box_positions(text: str) -> list[tuple[str, int, int]]:
    """`(content, start, end)` of every closed top-level box."""
    out: list[tuple[str, int, int]] = []
    pos = 0
    while True:
        m = _BOX_RE.search(text, pos)
        if m is None:
            return out
        i = m.end()
        while i < len(text) and text[i] == " ":
            i += 1
        if i >= len(text) or text[i] != "{":  # "\boxed 5": one token
            token = re.match(r"[^\s$]+", text[i:])
            if token and i > m.end():
                out.append((token.group(0), m.start(), i + token.end()))
            pos = max(i, m.end())
            continue
        j = _closing(text, i)
        if j is None:
            return out
        out.append((text[i + 1 : j].strip(), m.start(), j + 1))
        pos = j + 1


def _closing(text: str, i: int) -> int | None:
    """Index of the `}` closing the `{` at `text[i]`, or None."""
    depth, j = 0, i
    while j < len(text):
        c = text[j]
        if c == "\\":
            j += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return j
        j += 1
    return None


def _unclosed(text: str) -> bool:
    """Whether the last `\\boxed{` / `\\fbox{` of the text is never closed."""
    last = None
    for m in _BOX_RE.finditer(text):
        last = m
    if last is None:
        return False
    i = last.end()
    while i < len(text) and text[i] == " ":
        i += 1
    return i < len(text) and text[i] == "{" and _closing(text, i) is None


#: Boxes at most this many characters apart belong to one final answer ("$\\boxed{1}$ and
#: $\\boxed{2}$", "\\boxed{5}\\boxed{7}"); a box followed by more reasoning than that is an
#: intermediate result, and the last box or group of boxes is the final answer.
FINAL_GROUP_GAP = 80


def final_boxes(text: str) -> list[str]:
    """The boxes of the final answer: the last box and those within `FINAL_GROUP_GAP` of it."""
    spans = _box_positions(text)
    if not spans:
        return []
    group = [spans[-1]]
    for span in reversed(spans[:-1]):
        if group[0][1] - span[2] > FINAL_GROUP_GAP:
            break
        group.insert(0, span)
    return [c for c, _, _ in group]


def boxed_answers(text: str) -> list[str]:
    """Contents of every closed `\\boxed{...}` / `\\fbox{...}` in order."""
    return [c for c, _, _ in _box_positions(text)]


def last_boxed(text: str) -> str | None:
    """Content of the last `\\boxed{...}` (also `\\boxed 5`), or None (none, or unclosed)."""
    if _unclosed(text):
        return None
    spans = _box_positions(text)
    return spans[-1][0] if spans else None


def final_answer_text(text: str) -> str | None:
    """The final answer of a worked solution: its final boxes, distinct, joined by ", ".

    MATH solutions that end "the points are $\\boxed{(-2,18)}$ and $\\boxed{(8,38)}$" have
    both as their answer; the last box alone would make the gold half of it.
    """
    if _unclosed(text):
        return None
    boxes = list(dict.fromkeys(final_boxes(text)))
    return ", ".join(boxes) if boxes else None


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
    s = _unwrap_text_commands(strip_math_delimiters(s)).lower().strip().rstrip(".")
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


_OPTION_RE = re.compile(r"^(?:option|choice|answer)?\s*\(?([a-e])\)?$")
_LEADING_OPTION_RE = re.compile(r"^(?:option|choice)?\s*\(([a-e])\)(?:\s|$)")


def to_option(s: str) -> str | None:
    """Letter of a multiple-choice answer: `(a)`, `\\text{(C)}`, `option b`, `(c) J = 2K`."""
    text = _plain(s)
    m = _OPTION_RE.match(text) or _LEADING_OPTION_RE.match(text)
    return m.group(1) if m else None


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


@lru_cache(maxsize=4096)
def parse_gold(gold: str, timeout: int) -> tuple[Any, ...]:
    """Math-Verify's parse of a gold answer, read as `$gold$` unless it has `$` or a box."""
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse

    gold = _prepare(gold)
    delimited = re.search(r"(?<!\\)\$", gold) or "\\boxed" in gold
    text = gold if delimited else f"${gold}$"
    config = [LatexExtractionConfig(), ExprExtractionConfig()]
    return tuple(parse(text, extraction_config=config, parsing_timeout=timeout))


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
) -> Verdict:
    """Grade one response against its gold answer.

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

    if _unclosed(response):
        return Verdict(None, False, "no_answer", "unclosed_box")
    boxes = final_boxes(response)

    # Golds that Math-Verify does not read: decided by their own rule.
    rule = _format_rule(golds[0], kind, rules)
    if rule is not None:
        return _judge_by_rule(rule, response, boxes, golds, ctx)

    distinct = _distinct(boxes, ctx) if len(boxes) > 1 else boxes
    if len(distinct) > 1:
        pred = " ; ".join(distinct)
        gold_elems = _gold_elements(golds, multi_answer)
        if len(gold_elems) > 1 and _match_all(gold_elems, distinct, ctx):
            return Verdict(pred, True, "ok", "multi_box")
        return Verdict(pred, False, "hedge", "hedge")

    if boxes and any(same_text(boxes[-1], g) for g in golds):
        # The gold written out again: equal whatever a parser makes of it, and 20x cheaper.
        return Verdict(boxes[-1], True, "ok", "text_match")
    parsed, extracted = parse_response(response, timeout, options=rules.options)
    if extracted is None or not extracted.strip():
        return Verdict(None, False, "no_answer", "no_answer")
    pred = extracted
    chain_end = None if boxes else _chain_end(response, extracted)
    if chain_end is not None:  # "The final answer is 32 + 8 + 4 + 4 = 18 + 8 + 16 = 24."
        reparsed = parse_gold(chain_end, timeout)
        if reparsed:
            parsed, pred = reparsed, chain_end

    if multi_answer:
        gold_elems = _gold_elements(golds, True)
        if _match_all(gold_elems, answer_elements(pred), ctx):
            return Verdict(pred, True, "ok", "multi_answer")
        # `y = \\pm c` against the gold elements `c, -c`: Math-Verify reads both as one set
        whole = parse_gold(", ".join(gold_elems), timeout)
        ok = bool(whole) and _verify(whole, parsed, timeout)
        return Verdict(pred, ok, "ok", "math_verify" if ok else "multi_answer")
    if kind.startswith("list"):
        # Math-Verify reads "The answer is [2, 2]." as 2: take the box or the answer sentence
        pred = boxes[-1] if boxes else (_sentence_answer(response, ctx, "list_answer") or pred)
        g_elems, p_elems = answer_elements(golds[0]), answer_elements(pred)
        if len(g_elems) > 1:
            ok = len(g_elems) == len(p_elems) and all(
                _equal(g, p, ctx) for g, p in zip(g_elems, p_elems, strict=True)
            )
            return Verdict(pred, ok, "ok", "list_answer")

    texts = {normalize_text(pred)} | ({normalize_text(boxes[-1])} if boxes else set())
    unreadable = 0
    for g in golds:
        verdict, source = _judge_one(g, parsed, pred, boxes[-1] if boxes else None, ctx)
        if verdict and source == "math_verify" and mixed_numbers(g + response) != g + response:
            source = "mixed_number"
        if source == "math_verify" and chain_end is not None and pred == chain_end:
            source = "equation_chain"
        if not verdict and normalize_text(g) in texts:  # the gold's own text, unparsed
            return Verdict(pred, True, "ok", "text_match")
        if verdict:
            return Verdict(pred, True, "ok", source)
        if verdict is None:
            unreadable += 1
        elif source != "math_verify":
            return Verdict(pred, False, "ok", source)
    if unreadable == len(golds):
        return Verdict(pred, None, "bad_gold", "bad_gold")
    return Verdict(pred, False, "ok", "math_verify")


_CHAIN_RE = re.compile(r"\s*=\s*([^\n]*?)(?:\.\s|\.?$|\n)")


def _chain_end(response: str, extracted: str) -> str | None:
    """The last value of an equation chain that Math-Verify's extraction took the head of.

    Math-Verify's expression extraction reads "The final answer is 32 + 8 + 4 + 4 = 18 + 8 +
    16 = 24." as 32 + 8 + 4 + 4 (48, the gold, while the response's answer is 24). When the
    extracted text is followed by `=`, the response's answer is the chain's last part.
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


def _judge_one(
    gold: str, parsed: Any, pred: str, box: str | None, ctx: _Ctx
) -> tuple[bool | None, str]:
    """Math-Verify's verdict on one gold, with the benchmark's tolerance and malformed check.

    `box` is the raw final box, if any: one with unbalanced brackets is malformed (Math-Verify
    repairs `\\boxed{\\left( 2 + 3 }` into 5). Its extracted text is not checked, since it
    can cut a correct answer short (`1 - \\frac{1}{` for `$1 - \\frac{1}{\\mathrm{e}}$`).
    """
    g = parse_gold(gold, ctx.timeout)
    if not g:
        return None, "bad_gold"
    if box is not None and not _balanced(box) and _balanced(strip_math_delimiters(gold)):
        return False, "malformed_answer"
    if _verify(g, parsed, ctx.timeout):
        return True, "math_verify"
    e_note = _E_NOTATION_RE.fullmatch(strip_math_delimiters(pred))
    if e_note:  # Math-Verify reads `3.54e-07` as 3.54 * e - 7
        as_latex = f"${e_note.group(1)} \\times 10^{{{int(e_note.group(2))}}}$"
        if _verify(g, parse_gold(as_latex, ctx.timeout), ctx.timeout):
            return True, "e_notation"
    if _within_tolerance(g, parsed, ctx):
        return True, "tolerance"
    if gold.count("\\pm") == 1:  # `\\frac{1\\pm\\sqrt{17}}{4}`: Math-Verify reads one value
        plus, minus = gold.replace("\\pm", "+"), gold.replace("\\pm", "-")
        both = parse_gold(plus + ", " + minus, ctx.timeout)
        if both and _verify(both, parsed, ctx.timeout):
            return True, "plus_minus"
    return False, "math_verify"


_E_NOTATION_RE = re.compile(r"([-+]?(?:\d+\.?\d*|\.\d+))[eE]([-+]?\d+)")


def _gold_elements(golds: list[str], multi_answer: bool) -> list[str]:
    if multi_answer and len(golds) > 1:
        return [strip_math_delimiters(g) for g in golds]
    return answer_elements(golds[0])


def _format_rule(gold: str, kind: str, rules: AnswerRules) -> str | None:
    """The named rule for a gold Math-Verify does not read, or None for Math-Verify."""
    if "\\boxed" in gold:
        return None
    if kind == "bool" or (rules.options and to_bool(gold) is not None and not kind):
        return "bool_answer"
    if kind == "option" or (rules.options and to_option(gold) is not None):
        return "option_answer"
    if to_minutes(gold) is not None:
        return "clock_time"
    if to_words(gold) is not None:
        return "word_answer"
    if is_prose(gold):
        return "text_match"
    return None


def _judge_by_rule(
    rule: str, response: str, boxes: list[str], golds: list[str], ctx: _Ctx
) -> Verdict:
    """Verdict of a named format rule on the final answer of the response."""
    distinct = list(dict.fromkeys(normalize_text(b) for b in boxes))
    if len(distinct) > 1:
        return Verdict(" ; ".join(boxes), False, "hedge", "hedge")
    if rule == "option_answer" and not boxes:
        # Math-Verify's string extraction finds the option ("therefore I think it's B")
        labels = LETTER_OPTIONS if re.fullmatch(r"\s*[A-E]\s*", golds[0]) else PAREN_OPTIONS
        pred = parse_response(response, ctx.timeout, options=labels)[1]
        pred = pred or _sentence_answer(response, ctx, rule)
    else:
        pred = boxes[-1] if boxes else _sentence_answer(response, ctx, rule)
    if pred is None or not pred.strip():
        return Verdict(None, False, "no_answer", "no_answer")
    gold = golds[0]
    if rule == "bool_answer":
        ok = to_bool(pred) == to_bool(gold)
    elif rule == "option_answer":
        ok = to_option(pred) == to_option(gold)
    elif rule == "clock_time":
        ok = to_minutes(pred) == to_minutes(gold)
    elif rule == "word_answer":
        ok = to_words(pred) == to_words(gold)
    else:
        ok = any(normalize_text(g) == normalize_text(pred) for g in golds)
    return Verdict(pred, ok, "ok", rule)


_ANSWER_IS_RE = re.compile(
    r"(?:final answer|the answer|answer)\s*(?:is|:)\s*:?\s*(.{1,80}?)(?:\.\s|\.$|\n|$| I hope)",
    re.IGNORECASE,
)


def _sentence_answer(response: str, ctx: _Ctx, rule: str) -> str | None:
    """For a word, boolean, option, time or list gold without a box: "the answer is X".

    Math-Verify extracts mathematics, not words, so these formats need the answer sentence
    (measured: "The answer is false." gives Math-Verify nothing); else Math-Verify's own
    extracted text (`$odd$`, `$12:00$`; string extraction for options).
    """
    found = None
    for m in _ANSWER_IS_RE.finditer(response):
        found = m.group(1)
    if found is not None:
        return found.strip().strip("$").strip()
    return parse_response(response, ctx.timeout, options=rule == "option_answer")[1]
