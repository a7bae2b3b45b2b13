"""Final-answer extraction and equivalence (Math-Verify plus per-benchmark rules).

Extraction from a response: the last `\\boxed{}`/`\\fbox{}`, else a "The final answer is X" /
"the answer is X" sentence, else Math-Verify's own extraction over the whole response.

Equivalence (`judge`), gold first, in this order:

1. the two answers are the same text after light normalisation (this keeps CollegeMath's
   sentence-like golds, which no parser understands, gradable);
2. multi-answer golds (OlympiadBench `multi_answer`): every gold element must match a distinct
   predicted element, order-free, and the counts must agree;
3. lists (TheoremQA `list of ...`): element-wise, in order;
4. booleans, options `(a)`-`(e)`, clock times and word answers ("diverges", "No solution")
   are decided by their own rules;
5. plain numbers (thousands separators, `$`, `%`, trailing units removed) are compared with the
   row's absolute tolerance, TheoremQA's relative 4% for floats, or closeness;
6. everything else goes to Math-Verify `parse`/`verify` (gold first).

Everything here is pure computation; the grading pool (`dart_hf.grading`) runs it in worker
processes under a hard wall-clock limit.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from dart_hf.errors import unknown_name

STATUSES = ("ok", "no_answer", "timeout", "error", "truncated", "bad_gold")


@dataclass(frozen=True)
class AnswerRules:
    """Per-benchmark answer handling.

    Attributes:
        float_rel_tol: Relative tolerance for numeric golds (TheoremQA's own evaluator: 4%).
            None compares numbers to about 1e-6 relative.
    """

    float_rel_tol: float | None = None

    def __post_init__(self) -> None:
        if self.float_rel_tol is not None and not 0 <= self.float_rel_tol < 1:
            raise ValueError(f"float_rel_tol must be in [0, 1), got {self.float_rel_tol}")


#: Registry of benchmark names -> rules; rows whose `source` is not here use `DEFAULT_RULES`.
BENCHMARK_RULES: dict[str, AnswerRules] = {
    "math": AnswerRules(),
    "math500": AnswerRules(),
    "gsm8k": AnswerRules(),
    "college_math": AnswerRules(),
    "deepmind_mathematics": AnswerRules(),
    "olympiadbench": AnswerRules(),
    "theoremqa": AnswerRules(float_rel_tol=0.04),
}
DEFAULT_RULES = AnswerRules()


def rules_for(name: str | None, *, strict: bool = False) -> AnswerRules:
    """Rules of a benchmark; unknown names raise `DartError` when `strict`, else use defaults."""
    if name is None:
        return DEFAULT_RULES
    if name in BENCHMARK_RULES:
        return BENCHMARK_RULES[name]
    if strict:
        raise unknown_name("benchmark", name, BENCHMARK_RULES)
    return DEFAULT_RULES


# --------------------------------------------------------------------------- extraction

_BOX_RE = re.compile(r"\\(?:boxed|fbox)")
_FINAL_RE = re.compile(r"(?:final answer|the answer)\s*(?:is|:)\s*:?\s*(.+)", re.IGNORECASE)


def _braced(text: str, start: int) -> str | None:
    """Content of the `{...}` group opening at `text[start]`, or None if unbalanced."""
    depth = 0
    for i in range(start, len(text)):
        c = text[i]
        if c == "\\":
            continue
        if c == "{" and (i == 0 or text[i - 1] != "\\"):
            depth += 1
        elif c == "}" and text[i - 1] != "\\":
            depth -= 1
            if depth == 0:
                return text[start + 1 : i]
    return None


def last_boxed(text: str) -> str | None:
    """Content of the last `\\boxed{...}` or `\\fbox{...}` (also `\\boxed 5`), or None."""
    matches = list(_BOX_RE.finditer(text))
    for m in reversed(matches):
        rest = m.end()
        while rest < len(text) and text[rest] == " ":
            rest += 1
        if rest < len(text) and text[rest] == "{":
            inner = _braced(text, rest)
            if inner is not None:
                return inner.strip()
        elif rest > m.end():  # "\boxed 5": up to the next "$" or whitespace
            token = re.match(r"[^\s$]+", text[rest:])
            if token:
                return token.group(0)
    return None


def _final_answer_sentence(text: str) -> str | None:
    found = None
    for m in _FINAL_RE.finditer(text):
        found = m.group(1)
    if found is None:
        return None
    found = re.split(r"\s*I hope it is correct", found, maxsplit=1)[0].strip()
    if found.startswith("$$"):
        end = found.find("$$", 2)
        found = found[2:end] if end > 0 else found[2:]
    elif found.startswith("$"):
        end = found.find("$", 1)
        found = found[1:end] if end > 0 else found[1:]
    elif found.startswith("\\("):
        end = found.find("\\)")
        found = found[2:end] if end > 0 else found[2:]
    found = found.strip().rstrip(".").strip()
    return found or None


def extract_answer(response: str) -> str | None:
    """Final answer written in a response: last boxed, else a "the answer is X" sentence.

    Returns None when neither is present (the grader then tries Math-Verify's extraction).
    """
    boxed = last_boxed(response)
    if boxed is not None:
        return boxed
    return _final_answer_sentence(response)


# --------------------------------------------------------------------------- normalisation

_TEXT_CMD_RE = re.compile(r"\\(?:text|textbf|textit|textrm|mathrm|mathbf|mbox|operatorname)\s*\{")
_SPACES_RE = re.compile(r"\\[,!;: ]|\\q?quad|~")


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
    s = s.strip()
    s = re.sub(r"(?<!\\)\$", "", s)
    s = re.sub(r"\\[()\[\]]", "", s)
    return s.strip()


def normalize_text(s: str) -> str:
    """Loose textual form for exact comparison: no delimiters, styling, spacing or case."""
    s = strip_math_delimiters(s)
    s = _unwrap_text_commands(s)
    s = s.replace("\\left", "").replace("\\right", "")
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    s = _SPACES_RE.sub(" ", s)
    s = re.sub(r"\s+", "", s).lower()
    return s.rstrip(".").strip()


def _words(s: str) -> str:
    s = strip_math_delimiters(s)
    s = _unwrap_text_commands(s).lower()
    s = re.sub(r"[^a-z0-9 ]+", " ", s)
    return re.sub(r"\s+", " ", s).strip()


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


def to_option(s: str) -> str | None:
    """Letter of a multiple-choice answer such as `(a)`, `\\text{(C)}`, `option b`."""
    m = _OPTION_RE.match(_words_keep_parens(s))
    return m.group(1) if m else None


def _words_keep_parens(s: str) -> str:
    s = strip_math_delimiters(s)
    s = _unwrap_text_commands(s).lower().strip().rstrip(".")
    return re.sub(r"\s+", " ", s)


_TIME_RE = re.compile(r"^(\d{1,2})(?::(\d{2}))?(?::(\d{2}))?\s*(a\.?m\.?|p\.?m\.?)?$")


def to_minutes(s: str) -> int | None:
    """Clock time as minutes after midnight ("5:30 PM", "17:30", "10 a.m."), else None."""
    t = _words_keep_parens(s).replace(" ", "")
    m = _TIME_RE.match(t)
    if not m or (m.group(2) is None and m.group(4) is None):
        return None
    hour, minute = int(m.group(1)), int(m.group(2) or 0)
    if hour > 24 or minute > 59:
        return None
    half = m.group(4)
    if half:
        if hour > 12:
            return None
        hour = hour % 12 + (12 if half.startswith("p") else 0)
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
    """Normalised words of a word answer ("Diverges", "No solution"), else None."""
    raw = _words_keep_parens(s)
    if "\\" in raw or not _WORD_ANSWER_RE.match(raw) or not re.search(r"[a-z]{3}", raw):
        return None
    w = _words(raw)
    for a, b in _STEMS:
        w = re.sub(rf"\b{a}\b", b, w)
    return w


_UNIT_GROUP_RE = re.compile(r"\\(?:text|mathrm|textrm|mbox)\s*\{\s*~?\s*[a-zA-Z][^{}]*\}")
_NUMBER_RE = re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?$", re.IGNORECASE)
_THOUSANDS_RE = re.compile(r"^[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")


def to_number(s: str, unit: str | None = None) -> tuple[float, bool] | None:
    """A plain number written with optional `$`, thousands commas, `%` and a trailing unit.

    Returns `(value, had_percent)` or None when the text is not a plain number.
    """
    t = s.strip()
    if unit:
        for u in {unit.strip(), strip_math_delimiters(unit)}:
            if u and t.endswith(u):
                t = t[: -len(u)].strip()
    t = strip_math_delimiters(t)
    t = t.replace("\\$", "").replace("{,}", ",").replace("\\!", "")
    t = _UNIT_GROUP_RE.sub("", t)
    t = re.sub(r"\^\s*\{?\\circ\}?|\\circ", "", t)
    percent = bool(re.search(r"\\?%|\\percent", t))
    t = re.sub(r"\\?%|\\percent", "", t)
    t = re.sub(
        r"\s*(?:dollars?|cents?|percent|units?|[a-zA-Z]{2,}(?:\s*/\s*[a-zA-Z]+)?)\.?$", "", t
    )
    t = t.replace(" ", "").rstrip(".")
    sci = re.match(r"^([-+]?[\d.]+)(?:\\times|\\cdot|\*|x)10\^\{?([-+]?\d+)\}?$", t)
    if sci:
        t = f"{sci.group(1)}e{sci.group(2)}"
    if _THOUSANDS_RE.match(t):
        t = t.replace(",", "")
    if not _NUMBER_RE.match(t):
        return None
    try:
        value = float(t)
    except ValueError:
        return None
    if not math.isfinite(value):
        return None
    return value, percent


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


def _answer_elements(s: str) -> list[str]:
    s = strip_math_delimiters(s).replace("\\{", "{").replace("\\}", "}")
    s = s.replace("\\left", "").replace("\\right", "")
    s = s.strip().rstrip(".")
    if s.startswith("{") and s.endswith("}") and _braced(s, 0) == s[1:-1]:
        s = s[1:-1]
    return split_top_level(s, (",", ";", " and ", "\\text{ and }", " or "))


def _list_elements(s: str) -> list[str]:
    t = strip_math_delimiters(s).replace("\\left", "").replace("\\right", "").strip()
    if len(t) > 1 and t[0] in "[(" and t[-1] in "])":
        t = t[1:-1]
    return split_top_level(t)


# --------------------------------------------------------------------------- equivalence


@dataclass(frozen=True)
class Verdict:
    """Outcome of grading one item: the extracted answer, correctness and its status."""

    pred: str | None
    correct: bool | None
    status: str


def _mv_parse(text: str, timeout: int) -> list[Any]:
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse

    return list(
        parse(
            text,
            extraction_config=[LatexExtractionConfig(), ExprExtractionConfig()],
            parsing_timeout=timeout,
        )
    )


def _mv_verify(gold: list[Any], pred: list[Any], timeout: int) -> bool:
    from math_verify import verify

    return bool(verify(gold, pred, timeout_seconds=timeout))


class _Gold:
    """A gold answer with its Math-Verify parse computed at most once."""

    def __init__(self, text: str, timeout: int) -> None:
        self.text = text
        self.timeout = timeout
        self._parsed: list[Any] | None = None

    @property
    def parsed(self) -> list[Any]:
        if self._parsed is None:
            self._parsed = _mv_parse(f"${strip_math_delimiters(self.text)}$", self.timeout)
        return self._parsed


def _numbers_equal(
    gold: tuple[float, bool], pred: tuple[float, bool], rel_tol: float | None, abs_tol: float | None
) -> bool:
    g, g_pct = gold
    p, _ = pred
    candidates = [g, g / 100] if g_pct else [g]
    for c in candidates:
        if abs_tol is not None and abs(p - c) <= abs_tol + 1e-12:
            return True
        if rel_tol is not None and abs(p - c) <= abs(c) * rel_tol:
            return True
        if math.isclose(p, c, rel_tol=1e-6):
            return True
    return False


_MATH_SEGMENT_RE = re.compile(r"\$\$.*?\$\$|\$.*?\$|\\\(.*?\\\)|\\\[.*?\\\]", re.DOTALL)


def is_prose(text: str) -> bool:
    """Whether a gold answer is a sentence or derivation rather than a final answer.

    Such golds (common in CollegeMath: several lines, several words outside math) are only
    matched textually: parsers pull stray numbers
    out of them and would accept unrelated predictions.
    """
    outside = _MATH_SEGMENT_RE.sub(" ", text)
    if "\n" in text.strip() or "\\begin{aligned}" in text:
        return True
    return len(re.findall(r"[A-Za-z]{2,}", outside)) >= 3


def _equal_one(
    gold: str,
    pred: str,
    rel_tol: float | None,
    unit: str | None,
    abs_tol: float | None,
    timeout: int,
) -> bool | None:
    """Whether one predicted answer equals one gold answer; None when the gold is unparseable."""
    if normalize_text(gold) == normalize_text(pred):
        return True
    g_bool = to_bool(gold)
    if g_bool is not None:
        return to_bool(pred) == g_bool
    g_opt = to_option(gold) if re.search(r"\(\s*[a-eA-E]\s*\)", gold) else None
    if g_opt is not None:
        return to_option(pred) == g_opt
    g_time = to_minutes(gold)
    if g_time is not None:
        return to_minutes(pred) == g_time
    g_words = to_words(gold)
    if g_words is not None:
        return to_words(pred) == g_words
    g_num = to_number(gold, unit)
    if g_num is not None:
        p_num = to_number(pred, unit)
        if p_num is not None:
            return _numbers_equal(g_num, p_num, rel_tol, abs_tol)
    if is_prose(gold):
        return False
    g = _Gold(gold, timeout)
    if not g.parsed:
        return None
    p = _mv_parse(f"${strip_math_delimiters(pred)}$", timeout)
    return bool(p) and _mv_verify(g.parsed, p, timeout)


def _match_all(golds: list[str], preds: list[str], eq: Any) -> bool:
    """Every gold matches a distinct prediction and the counts agree (order-free)."""
    if len(golds) != len(preds):
        return False
    left = list(preds)
    for g in golds:
        hit = next((i for i, p in enumerate(left) if eq(g, p)), None)
        if hit is None:
            return False
        left.pop(hit)
    return True


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
        unit: A unit that may follow the predicted number.
        tolerance: Absolute numeric tolerance (OlympiadBench `error`).
        benchmark: Name in `BENCHMARK_RULES`; unknown names use the defaults.
        timeout: Seconds for Math-Verify's own (signal-based) timeouts.

    Returns:
        A `Verdict`; `correct` is None only for `bad_gold`.
    """
    golds = [a for a in (answers or []) if a is not None and str(a).strip()]
    if not golds and gold is not None and str(gold).strip():
        golds = [str(gold)]
    if not golds or not any(normalize_text(g) for g in golds):
        return Verdict(extract_answer(response), None, "bad_gold")
    rules = rules_for(benchmark)
    abs_tol = tolerance if tolerance is not None and tolerance > 0 else None

    pred = extract_answer(response)
    if pred is None:
        parsed = _mv_parse(response, timeout)
        if not parsed:
            return Verdict(None, False, "no_answer")
        pred = str(parsed[-1]) if len(parsed) > 1 else str(parsed[0])
    if not pred.strip():
        return Verdict(pred, False, "no_answer")

    kind = (answer_type or "").lower()
    rel_tol = rules.float_rel_tol if kind in {"", "float", "list of float"} else None

    def eq(g: str, p: str) -> bool | None:
        return _equal_one(g, p, rel_tol, unit, abs_tol, timeout)

    if multi_answer:
        gold_elems = (
            [strip_math_delimiters(g) for g in golds]
            if len(golds) > 1
            else _answer_elements(golds[0])
        )
        if normalize_text(",".join(gold_elems)) == normalize_text(pred):
            return Verdict(pred, True, "ok")
        ok = _match_all(gold_elems, _answer_elements(pred), lambda g, p: bool(eq(g, p)))
        if not ok and len(gold_elems) == 1:
            ok = bool(eq(gold_elems[0], pred))
        return Verdict(pred, ok, "ok")
    if kind.startswith("list"):
        g_elems, p_elems = _list_elements(golds[0]), _list_elements(pred)
        if len(g_elems) == len(p_elems) and len(g_elems) > 1:
            ok = all(eq(g, p) for g, p in zip(g_elems, p_elems, strict=True))
            return Verdict(pred, ok, "ok")
    if kind == "bool":
        return Verdict(pred, to_bool(pred) == to_bool(golds[0]), "ok")
    if kind == "option":
        return Verdict(pred, to_option(pred) == to_option(golds[0]), "ok")

    unparseable = 0
    for g in golds:
        verdict = eq(g, pred)
        if verdict:
            return Verdict(pred, True, "ok")
        if verdict is None:
            unparseable += 1
    if unparseable == len(golds):
        return Verdict(pred, None, "bad_gold")
    return Verdict(pred, False, "ok")
