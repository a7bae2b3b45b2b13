"""Where a response states its final answer: boxes and the other explicit answer anchors.

An **anchor** is an explicit statement of an answer. The kinds, in the order that breaks ties
between anchors on the same line (`ANCHOR_RULES`, an ordered tuple of named rules):

| kind | looks like | value |
|---|---|---|
| `boxed` | `\\boxed{18}`, `\\fbox{18}` (a group of boxes given together) | the boxes |
| `answer_section` | a `# Answer` heading (PRM800K, Math-Shepherd) | its first line |
| `hash_answer` | `#### 18` (GSM8K) | the rest of the line |
| `json_answer` | `"answer": "18"` in a JSON object | the field, JSON-decoded |
| `answer_line` | a line starting `Answer:`, `Final Answer:`, `A:` | the rest of the line |
| `answer_phrase` | "the (final) answer is 18 dollars." | up to the end of the clause |

The **final anchor** is the last one in the text (by line; the order above only breaks ties
within one line): "a box, then `#### 7`" answers 7, "The final answer is $\\boxed{7}$" answers
the box. A response without any anchor is *unanchored*: `answers.judge` then falls back to
Math-Verify's own extraction, or, where the grading setting `require_anchor` asks for an
anchor, calls it `no_answer`.

The value of a text anchor is read up to the end of its clause ("the answer is 5, since 2 + 3
= 5" is 5), an equation chain is read to its end ("32 + 8 = 40" is 40), and trailing words
and units are dropped ("18 dollars per day" is 18, "$1,260" is 1260), except a **compound
quantity** of time units ("18 hours and 48 minutes"), which is read whole, in each of its
units (1128 minutes or 18.8 hours), or counts as no answer when its units are not time units.

Pure text functions; no Math-Verify here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

# --------------------------------------------------------------------------- boxes

_BOX_RE = re.compile(r"\\(?:boxed|fbox)\b")


@lru_cache(maxsize=16)  # one response is scanned by several steps of `answers.judge`
def box_spans(text: str) -> tuple[tuple[str, int, int], ...]:
    """`(content, start, end)` of every closed top-level `\\boxed{...}` / `\\fbox{...}`."""
    out: list[tuple[str, int, int]] = []
    pos = 0
    while True:
        m = _BOX_RE.search(text, pos)
        if m is None:
            return tuple(out)
        i = m.end()
        while i < len(text) and text[i] == " ":
            i += 1
        if i >= len(text) or text[i] != "{":  # "\boxed 5": one token
            token = re.match(r"[^\s$]+", text[i:])
            if token and i > m.end():
                out.append((token.group(0), m.start(), i + token.end()))
            pos = max(i, m.end())
            continue
        j = closing_brace(text, i)
        if j is None:
            return tuple(out)
        out.append((text[i + 1 : j].strip(), m.start(), j + 1))
        pos = j + 1


def closing_brace(text: str, i: int) -> int | None:
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


@lru_cache(maxsize=16)
def unclosed_box(text: str) -> bool:
    """Whether the last `\\boxed{` / `\\fbox{` of the text is never closed."""
    last = None
    for m in _BOX_RE.finditer(text):
        last = m
    if last is None:
        return False
    i = last.end()
    while i < len(text) and text[i] == " ":
        i += 1
    return i < len(text) and text[i] == "{" and closing_brace(text, i) is None


#: Boxes at most this many characters apart belong to one final answer ("$\\boxed{1}$ and
#: $\\boxed{2}$", "\\boxed{5}\\boxed{7}"); a box followed by more reasoning than that is an
#: intermediate result, and the last box or group of boxes is the final answer.
FINAL_GROUP_GAP = 80


def final_box_spans(text: str) -> list[tuple[str, int, int]]:
    """The spans of the final box group: the last box and those within `FINAL_GROUP_GAP`."""
    spans = box_spans(text)
    if not spans:
        return []
    group = [spans[-1]]
    for span in reversed(spans[:-1]):
        if group[0][1] - span[2] > FINAL_GROUP_GAP:
            break
        group.insert(0, span)
    return group


def final_boxes(text: str) -> list[str]:
    """The boxes of the final answer: the last box and those within `FINAL_GROUP_GAP` of it."""
    return [c for c, _, _ in final_box_spans(text)]


def boxed_answers(text: str) -> list[str]:
    """Contents of every closed `\\boxed{...}` / `\\fbox{...}` in order."""
    return [c for c, _, _ in box_spans(text)]


def boxed_spans(text: str) -> tuple[list[str], bool]:
    """Contents of every top-level box in order, and whether the last box is never closed."""
    return boxed_answers(text), unclosed_box(text)


def last_boxed(text: str) -> str | None:
    """Content of the last `\\boxed{...}` (also `\\boxed 5`), or None (none, or unclosed)."""
    if unclosed_box(text):
        return None
    spans = box_spans(text)
    return spans[-1][0] if spans else None


def final_answer_text(text: str) -> str | None:
    """The final answer of a worked solution: its final boxes, distinct, joined by ", ".

    MATH solutions that end "the points are $\\boxed{(-2,18)}$ and $\\boxed{(8,38)}$" have
    both as their answer; the last box alone would make the gold half of it.
    """
    if unclosed_box(text):
        return None
    boxes = list(dict.fromkeys(final_boxes(text)))
    return ", ".join(boxes) if boxes else None


# --------------------------------------------------------------------------- anchors


@dataclass(frozen=True)
class Anchor:
    """One explicit answer statement.

    Attributes:
        kind: A name of `ANCHOR_RULES` (`boxed`, `answer_phrase`, ...).
        start: Offset of the statement in the response.
        clause: What the statement says, up to the end of its clause (the boxes of a box
            group joined by " ; "); words kept, for word, option and time answers.
        value: The answer read from the clause: an equation chain's last part, a number
            without its trailing words and units; None when the clause states no value.
        compound: The values of a compound quantity of time units in each of its units
            ("18 hours and 48 minutes": `("1128", "94/5")`); empty otherwise.
    """

    kind: str
    start: int
    clause: str
    value: str | None
    compound: tuple[str, ...] = ()


@dataclass(frozen=True)
class AnchorRule:
    """A named way of stating an answer: `find(text, pos)` yields `(start, clause)` pairs of
    the statements that start at or after `pos` (a line start)."""

    name: str
    find: Callable[[str, int], Iterator[tuple[int, str]]]


def _boxed(text: str, pos: int) -> Iterator[tuple[int, str]]:
    group = final_box_spans(text)
    if group:
        yield group[-1][1], " ; ".join(c for c, _, _ in group)


_SECTION_RE = re.compile(r"(?im)^[ \t]*#{1,6}[ \t]*(?:final[ \t]+)?answer[ \t]*:?[ \t]*$")


def _answer_section(text: str, pos: int) -> Iterator[tuple[int, str]]:
    if "#" not in text[pos:]:
        return
    for m in _SECTION_RE.finditer(text, pos):
        rest = text[m.end() :].lstrip("\n")
        line = rest.split("\n", 1)[0].strip()
        if line:
            yield m.start(), line


_HASH_RE = re.compile(r"(?m)^[ \t]*####[ \t]*(?=[-+$\\\d.(])([^\n]*)$")


def _hash_answer(text: str, pos: int) -> Iterator[tuple[int, str]]:
    if "####" not in text[pos:]:
        return
    for m in _HASH_RE.finditer(text, pos):
        yield m.start(), m.group(1).strip()


_JSON_RE = re.compile(r'"(?:final_)?answer"\s*:\s*(?:"((?:[^"\\]|\\.)*)"|([^,\n}{\[][^,\n}]*))')


def _json_answer(text: str, pos: int) -> Iterator[tuple[int, str]]:
    if 'answer"' not in text[pos:]:
        return
    for m in _JSON_RE.finditer(text, pos):
        if m.group(1) is not None:
            try:
                value = json.loads(f'"{m.group(1)}"')
            except ValueError:  # an invalid escape: take the text as it stands
                value = m.group(1)
        else:
            value = m.group(2)
        value = value.strip().strip('"').strip()
        if value and value.lower() != "answer":
            yield m.start(), value


_LINE_RE = re.compile(r"(?im)^[ \t>*_#-]*(?:(?:final[ \t]+)?answer|A)[ \t]*\**[ \t]*[:：][ \t*]*")


def _answer_line(text: str, pos: int) -> Iterator[tuple[int, str]]:
    if ":" not in text[pos:]:
        return
    for m in _LINE_RE.finditer(text, pos):
        rest = text[m.end() :]
        line = rest.split("\n", 1)[0].strip()
        if not line:  # "**Answer:**" and the value on the next line (a value, not prose)
            line = _value_below(rest)
        if line:
            yield m.start(), _clause(line)


_PHRASE_RE = re.compile(
    r"(?i)\b(?:(?:the|my|our)\s+)?final\s+answer\s*(?:is|:|=)|"
    r"\bthe\s+(?:correct\s+|final\s+|right\s+)?(?:answer|option|choice)\s+"
    r"(?:to\s+(?:the|this)\s+(?:question|problem)\s+)?"
    r"(?:is|would\s+be|will\s+be|=)\s*:?"
)


def _answer_phrase(text: str, pos: int) -> Iterator[tuple[int, str]]:
    tail = text[pos:].lower()
    if "answer" not in tail and "option" not in tail and "choice" not in tail:
        return  # the regex below is the slowest step of `final_anchor`: skip it when it can
    for m in _PHRASE_RE.finditer(text, pos):
        rest = text[m.end() :]
        line = rest.split("\n", 1)[0]
        if not line.strip(" :*"):  # "The final answer is:" and a value (not prose) below
            line = _value_below(rest)
        clause = _clause(line)
        if clause:
            yield m.start(), clause


#: A statement whose value is on the next line takes that line when it is a value, or a short
#: sentence ("Carlos will earn ... in 100 years."), not a paragraph of further reasoning.
SHORT_SENTENCE = 80


def _value_below(rest: str) -> str:
    line = next((x.strip() for x in rest.split("\n")[1:4] if x.strip()), "")
    return line if not _is_sentence(line) or len(line) <= SHORT_SENTENCE else ""


#: The anchor kinds, in the order that breaks ties between anchors on the same line.
ANCHOR_RULES: tuple[AnchorRule, ...] = (
    AnchorRule("boxed", _boxed),
    AnchorRule("answer_section", _answer_section),
    AnchorRule("hash_answer", _hash_answer),
    AnchorRule("json_answer", _json_answer),
    AnchorRule("answer_line", _answer_line),
    AnchorRule("answer_phrase", _answer_phrase),
)
ANCHOR_KINDS = tuple(r.name for r in ANCHOR_RULES)


def final_anchor(text: str) -> Anchor | None:
    """The last explicit answer statement of `text`, or None (unanchored).

    The last line holding a statement wins; on that line, the first kind of `ANCHOR_RULES`.
    Only the lines from the final box on are searched for the others (none before it can win).
    """
    group = final_box_spans(text)
    if group and "\n" not in text[group[-1][2] :].rstrip():
        # the box is on the last line: a box wins any tie on its line, and no line follows
        clause = " ; ".join(c for c, _, _ in group)
        return Anchor("boxed", group[-1][1], clause, clause)
    pos = text.rfind("\n", 0, group[-1][1]) + 1 if group else 0
    best: tuple[int, int, int, str, str] | None = None  # (line, -rank, start, kind, clause)
    for rank, rule in enumerate(ANCHOR_RULES):
        for start, clause in rule.find(text, pos):
            key = (text.count("\n", 0, start), -rank, start, rule.name, clause)
            if best is None or key[:2] > best[:2]:
                best = key
    if best is None:
        return None
    _, _, start, kind, clause = best
    if kind == "boxed":
        return Anchor(kind, start, clause, clause)
    value, compound = read_value(clause)
    return Anchor(kind, start, clause, value, compound)


# --------------------------------------------------------------------------- clause and value

_CONNECTIVE = (
    r"since|because|as|which|so|and\s+so|but|where|whereas|that\s+is|i\.e\.|thus|hence|"
    r"therefore|giving|meaning|for|with|or\s+approximately|I\s+hope"
)
_END_RE = re.compile(rf"(?i)\.\s|\.$|;|!|\?|,\s+(?:{_CONNECTIVE})\b|\s(?:since|because)\b")


def _clause(line: str) -> str:
    """`line` up to the end of its first clause, outside math and brackets."""
    depth, in_math, i = 0, False, 0
    while i < len(line):
        c = line[i]
        if c == "\\" and i + 1 < len(line):
            if line[i + 1] in "([":
                in_math = True
            elif line[i + 1] in ")]":
                in_math = False
            i += 2
            continue
        if c == "$":
            in_math = not in_math
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth = max(depth - 1, 0)
        elif not in_math and depth == 0:
            m = _END_RE.match(line, i)
            if m and not (c == "." and i + 1 < len(line) and line[i + 1].isdigit()):
                return _tidy(line[:i])
        i += 1
    return _tidy(line)


def _tidy(s: str) -> str:
    s = s.strip().strip("*_`").strip()
    s = re.sub(r"^[:=]\s*", "", s).strip()
    return s.strip('"').strip()


_MATH_RE = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$|\\\((.+?)\\\)|\\\[(.+?)\\\]", re.DOTALL)
_NUMBER = r"[-+−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:\s*/\s*\d+)?|[-+]?\.\d+"
_LEADING_RE = re.compile(
    rf"^(?:approximately\s+|about\s+|exactly\s+|only\s+)?(?:\\?\$|£|€)?\s*({_NUMBER})"
    r"(\s*(?:\\?%|percent\b))?"
)
_TIME_UNITS = {
    "second": Fraction(1, 60),
    "sec": Fraction(1, 60),
    "minute": Fraction(1),
    "min": Fraction(1),
    "hour": Fraction(60),
    "hr": Fraction(60),
    "day": Fraction(60 * 24),
    "week": Fraction(60 * 24 * 7),
}
_COMPOUND_RE = re.compile(
    rf"^({_NUMBER})\s*([a-z]+)\.?,?\s*(?:and\s+)?({_NUMBER})\s*([a-z]+)\b", re.IGNORECASE
)
_WORD_RE = re.compile(r"[A-Za-z]{3,}")
_SEPARATOR_RE = re.compile(r"(\d)(?:\{,\}|,\\!|\\,|\\ )(\d{3})")
_ALTERNATIVES_RE = re.compile(rf"^(?:{_NUMBER})(?:\s*(?:,\s*)?\bor\b\s*(?:{_NUMBER}))+\s*$")
_ALTERNATIVE_SEP_RE = re.compile(r"\s*(?:,\s*)?\bor\b\s*")
_VERB_RE = re.compile(r"\s(?:is|are|was|were|equals|=)\s", re.IGNORECASE)
_MATH_WORDS = {
    "sqrt",
    "frac",
    "dfrac",
    "cos",
    "sin",
    "tan",
    "log",
    "exp",
    "cdot",
    "times",
    "infty",
    "pi",
    "binom",
    "choose",
    "text",
    "left",
    "right",
    "div",
    "mod",
    "pmod",
}


def _unit(word: str) -> str | None:
    w = word.lower().rstrip("s") if len(word) > 3 else word.lower()
    return w if w in _TIME_UNITS else None


def read_value(clause: str) -> tuple[str | None, tuple[str, ...]]:
    """The answer a clause states: `(value, compound values)`.

    Math delimiters around the value are removed; an equation chain gives its last part; a
    leading number keeps a percent sign and loses trailing words, units, currency and
    thousands separators; a sentence gives its first number; anything else is returned as it
    is (an expression for Math-Verify). A compound quantity of time units gives no single
    value but its value in each of its units; one of other units gives `(None, ())`.
    """
    s = _strip_currency(clause.strip())
    s = _SEPARATOR_RE.sub(r"\1,\2", _SEPARATOR_RE.sub(r"\1,\2", s))  # 10,\!000 -> 10,000
    math = _MATH_RE.search(s)
    if math and (math.start() == 0 or not _is_sentence(s[: math.start()])):
        inner = next(g for g in math.groups() if g is not None).strip()
        after = s[math.end() :].lstrip()
        s = inner + ("%" if after.startswith(("%", "\\%")) else "")
    s = _chain_end(s)
    compound = _COMPOUND_RE.match(s)
    if compound:
        u1, u2 = _unit(compound.group(2)), _unit(compound.group(4))
        if u1 and u2 and u1 != u2:
            total = (
                _number(compound.group(1)) * _TIME_UNITS[u1] + _number(compound.group(3)) * _TIME_UNITS[u2]
            )
            return None, tuple(_fraction_text(total / _TIME_UNITS[u]) for u in (u1, u2))
        word1, word2 = compound.group(2), compound.group(4)
        if _is_unit_word(word1) and _is_unit_word(word2) and word1.lower() != word2.lower():
            return None, ()  # "5 feet 6 inches": a compound of units not read whole
    if _ALTERNATIVES_RE.match(s):  # "4 or 5": two values, a hedge (read as the set of them)
        return _ALTERNATIVE_SEP_RE.sub(", ", s), ()
    lead = _LEADING_RE.match(s)
    if lead:
        rest = s[lead.end() :]
        if re.match(r"\s*choose\s+\d", rest, re.IGNORECASE):  # "8 choose 2"
            return s, ()
        if not rest.strip() or re.match(r"\s+[A-Za-z]|\s*[,.;]|[A-Za-z]{2}", rest):
            return _plain_number(lead.group(1)) + ("%" if lead.group(2) else ""), ()
    if _is_sentence(s):
        verb = list(_VERB_RE.finditer(s))
        if verb and not _is_sentence(s[verb[-1].end() :]):  # "The largest $n$ is 34."
            return read_value(s[verb[-1].end() :])
        math_parts = _MATH_RE.findall(s)
        if len(math_parts) == 1:  # "that $x = 5$": the one math segment
            return read_value(next(g for g in math_parts[0] if g))
        number = re.search(rf"({_NUMBER})(\s*(?:\\?%|percent\b))?", s)
        if number:
            return _plain_number(number.group(1)) + ("%" if number.group(2) else ""), ()
        return s, ()
    return s or None, ()


def _strip_currency(s: str) -> str:
    """Dollar signs of amounts removed: `\\$5`, and `$5` when no `$` closes it as math
    (`$5/bag = $1000` is money, `$18$` is math)."""
    s = re.sub(r"\\\$\s*(?=[\d.])", "", s)
    out, i = [], 0
    while i < len(s):
        c = s[i]
        if c == "$" and i + 1 < len(s) and (s[i + 1].isdigit() or s[i + 1] == "."):
            nxt = s.find("$", i + 1)
            if nxt < 0 or s[nxt - 1].isspace():
                i += 1
                continue
        out.append(c)
        i += 1
    return "".join(out)


_UNIT_WORDS = {
    "foot",
    "feet",
    "inche",
    "inch",
    "pound",
    "ounce",
    "meter",
    "centimeter",
    "yard",
    "mile",
    "cent",
    "dollar",
    "liter",
    "gallon",
    "cup",
    "quart",
    "pint",
}


def _is_unit_word(word: str) -> bool:
    return word.lower().rstrip("s") in _UNIT_WORDS


def _is_sentence(s: str) -> bool:
    """Two or more words of three letters or more that are not LaTeX or function names."""
    words = [w for w in _WORD_RE.findall(re.sub(r"\\[A-Za-z]+", " ", s)) if w.lower() not in _MATH_WORDS]
    return len(words) >= 2


def _chain_end(s: str) -> str:
    """The last part of an equation chain (`32 + 8 = 40` -> `40`); other text unchanged.

    A chain is two or more `=`, or one `=` after pure arithmetic: `x = 5` stays an equation.
    """
    parts = re.split(r"(?<![<>!\\])=(?!=)", s)
    if len(parts) < 2:
        return s
    if len(parts) == 2 and re.search(r"[A-Za-z]", re.sub(r"\\[A-Za-z]+|\$", "", parts[0])):
        return s
    last = parts[-1].strip()
    return last if last else s


def _number(text: str) -> Fraction:
    t = text.replace(",", "").replace("−", "-").replace(" ", "")
    if "/" in t:
        a, b = t.split("/")
        return Fraction(a) / Fraction(b)
    return Fraction(t)


def _plain_number(text: str) -> str:
    """`1,260` -> `1260`, `−3` -> `-3`; other text unchanged."""
    t = text.replace("−", "-")
    return t.replace(",", "") if re.fullmatch(r"[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?", t) else t


def _fraction_text(x: Fraction) -> str:
    return str(x.numerator) if x.denominator == 1 else f"{x.numerator}/{x.denominator}"
