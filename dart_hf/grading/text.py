"""Text forms of an answer: normalised spellings, booleans, options, clock times, words, and a
list's top-level elements (what the text rules of `verdict` compare)."""

from __future__ import annotations

import re

# --------------------------------------------------------------------------- text helpers

TEXT_CMD_RE = re.compile(r"\\(?:text|textbf|textit|textrm|mathrm|mathbf|mbox|operatorname)\s*\{")
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
        m = TEXT_CMD_RE.search(s)
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
    if len(s) > 1 and s[0] + s[-1] in ("{}", "[]", "()") and balanced(s[1:-1]):
        s = s[1:-1]
    return split_top_level(s, (",", ";", " and ", "\\text{ and }", " or "))


def balanced(s: str) -> bool:
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
