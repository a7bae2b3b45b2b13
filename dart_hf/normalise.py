"""Raw rows of every supported format -> one normalised schema (`SOURCE_FEATURES`).

A normaliser per format (MATH, MATH500, GSM8K, CollegeMath, DeepMind Mathematics,
OlympiadBench, TheoremQA, already-normalised tables, and `plain`: any table with a question
column) turns a raw row into the common
columns; gold answers are extracted the way each benchmark's own evaluator reads them
(GSM8K's `####` line, MATH's last `\\boxed{}`, TheoremQA's typed values). `normalise_batch`
is the `Dataset.map` stage that `dart_hf.sources` runs over every pool and benchmark.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from datasets import Features, List, Value

from dart_hf.errors import DartError
from dart_hf.grading.anchors import final_answer_text

logger = logging.getLogger(__name__)

NORMALISE_VERSION = "4"
"""Bump when the output of `normalise_batch` changes (datasets hashes the function by name)."""

SOURCE_FEATURES = Features(
    {
        "id": Value("string"),
        "source": Value("string"),
        "query": Value("string"),
        "answer": Value("string"),
        "level": Value("int32"),
        "domain": Value("string"),
        "solution": Value("string"),
        "answer_type": Value("string"),
        "answers": List(Value("string")),
        "multi_answer": Value("bool"),
        "unit": Value("string"),
        "tolerance": Value("float64"),
        "needs_picture": Value("bool"),
    }
)

_DEFAULTS: dict[str, Any] = {
    "level": None,
    "domain": None,
    "solution": None,
    "answer_type": None,
    "answers": None,
    "multi_answer": False,
    "unit": None,
    "tolerance": None,
    "needs_picture": False,
}

# The two MATH train rows marked `Level ?` get the levels the reference code gives them.
# Keyed by unique id and, for copies without one, by the SHA-1 of the problem text.
LEVEL_FIXES: dict[str, int] = {
    "train/geometry/377": 2,
    "train/geometry/471": 1,
    "dcf05f681d2f0e579f3c0488e6ca38cfdbe1c015": 2,
    "702b344dd05b8185060b1aa84519a356f62df34e": 1,
}


# --- gold answers -------------------------------------------------------------------------


def gsm8k_answer(text: str) -> str:
    """Final answer of a GSM8K solution: the text after the last `####`, commas removed."""
    if "####" not in text:
        return ""
    return text.rsplit("####", 1)[1].strip().replace(",", "")


def render_number(value: int | float | Decimal) -> str:
    """A number as a model would write it: `11760`, `1.42`, `4 \\times 10^{-5}`."""
    if isinstance(value, bool | int):
        return str(value)
    text = str(value) if isinstance(value, Decimal) else repr(float(value))
    if "e" in text.lower():
        mantissa, exponent = re.split("[eE]", text)
        if mantissa.endswith(".0"):
            mantissa = mantissa[:-2]
        return f"{mantissa} \\times 10^{{{int(exponent)}}}"
    return text


def theoremqa_answer(value: Any, answer_type: str | None) -> str:
    """TheoremQA `Answer` as text: bools `True`/`False`, lists `[a, b]`, options `(a)`.

    `value` is a Python value or its JSON text (a mixed-type JSONL column is read as JSON
    text so that numbers keep their written digits); other strings are kept as given.
    """
    if isinstance(value, str):
        text = value.strip()
        try:
            decoded = json.loads(text, parse_float=Decimal)
        except ValueError:
            if answer_type == "bool" and text.lower() in ("true", "false"):
                return text.capitalize()
            return text
        return text if decoded is None else theoremqa_answer_value(decoded)
    return theoremqa_answer_value(value)


def theoremqa_answer_value(value: Any) -> str:
    """Render a decoded TheoremQA answer (bool, number, list, option string)."""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int | float | Decimal):
        return render_number(value)
    if isinstance(value, list):
        return "[" + ", ".join(theoremqa_answer_value(v) for v in value) + "]"
    return "" if value is None else str(value).strip()


# --- per-format row normalisers -----------------------------------------------------------


def as_text(value: Any) -> str:
    """A raw cell as stripped text; missing (None) is the empty string."""
    return "" if value is None else str(value).strip()


def describe_value(value: Any) -> str:
    """What a cell holds, for a message: `an integer (5)`, `chat messages ([{'role': ...)`."""
    if isinstance(value, bool):
        kind = "a boolean"
    elif isinstance(value, int):
        kind = "an integer"
    elif isinstance(value, float | Decimal):
        kind = "a number"
    elif isinstance(value, dict):
        kind = "a mapping"
    elif isinstance(value, list | tuple):
        chat = value and all(isinstance(v, dict) and "content" in v for v in value)
        kind = "chat messages" if chat else "a list"
    else:
        kind = f"a {type(value).__name__}"
    shown = repr(value)
    return f"{kind} {shown[:60]}{'...' if len(shown) > 60 else ''}"


def _label(name: str) -> str:
    return repr(name)


def text_cell(value: Any, column: str, where: str, *, gold: bool = False) -> str:
    """A cell that must be text, stripped; None is "" (missing).

    A gold answer may also be a number: an integer as its digits, a finite float as
    `render_number` writes it. Anything else (lists, mappings, chat messages, booleans, and
    numbers where a question is needed) is an error naming the row, the column and the type:
    its `str()` would be released as a question or a gold answer.

    Raises:
        DartError: The cell holds something other than text.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if gold and isinstance(value, int | Decimal) and not isinstance(value, bool):
        return render_number(value)
    if gold and isinstance(value, float) and math.isfinite(value):
        return render_number(value)
    need = "text or a number" if gold else "text"
    hint = ""
    if isinstance(value, list | tuple) and value and isinstance(value[0], dict):
        hint = "; put the text (e.g. the user turn's `content`) in a column of its own"
    raise DartError(f"{where}: column {column} holds {describe_value(value)}, not {need}{hint}")


def _opt_text(value: Any) -> str | None:
    text = as_text(value)
    return text or None


def _make_id(source: str, split: str, raw: Any, idx: int) -> str:
    """`source/split/<raw id without .json>`, or `source/split/<row index>` when none."""
    raw_text = as_text(raw)
    if not raw_text:
        return f"{source}/{split}/{idx}"
    raw_text = raw_text.removesuffix(".json")
    if raw_text.startswith(f"{split}/"):
        return f"{source}/{raw_text}"
    return f"{source}/{split}/{raw_text}"


def _math_level(row: Mapping[str, Any], where: str) -> int | None:
    """A MATH row's level: `Level 3` -> 3; MATH's two `Level ?` train rows by id or problem
    text (`LEVEL_FIXES`); no level at all is null. Any other value is an error: a null level
    would leave the row out of every per-level figure without a word."""
    level = row.get("level")
    if level is None or (isinstance(level, str) and not level.strip()):
        return None
    if isinstance(level, int) and not isinstance(level, bool) and 1 <= level <= 5:
        return level
    match = re.fullmatch(r"\s*(?:Level\s*)?([1-5])\s*", level) if isinstance(level, str) else None
    if match:
        return int(match.group(1))
    key = as_text(row.get("unique_id")).removesuffix(".json")
    digest = hashlib.sha1(as_text(row.get("problem")).encode()).hexdigest()
    fixed = LEVEL_FIXES.get(key, LEVEL_FIXES.get(digest))
    if fixed is None:
        raise DartError(
            f"{where}: level {level!r} is not a MATH level (Level 1-5); write the row's level "
            "in the file (MATH's own two `Level ?` train rows, geometry/377 and geometry/471, "
            "are given 2 and 1 by their id or problem text)"
        )
    return fixed


def _row_math(row: Mapping[str, Any], idx: int, source: str, split: str, where: str) -> dict:
    solution = text_cell(row["solution"], _label("solution"), where)
    return {
        "id": _make_id(source, split, row.get("unique_id"), idx),
        "query": text_cell(row["problem"], _label("problem"), where),
        "answer": final_answer_text(solution) or "",
        "level": _math_level(row, where),
        "domain": _opt_text(row.get("type") or row.get("subject")),
        "solution": solution or None,
    }


def _row_math500(row: Mapping[str, Any], idx: int, source: str, split: str, where: str) -> dict:
    out = _row_math({**row, "solution": row.get("solution") or ""}, idx, source, split, where)
    out["answer"] = text_cell(row["answer"], _label("answer"), where, gold=True)
    return out


def _row_gsm8k(row: Mapping[str, Any], idx: int, source: str, split: str, where: str) -> dict:
    return {
        "id": _make_id(source, split, row.get("id"), idx),
        "query": text_cell(row["question"], _label("question"), where),
        "answer": gsm8k_answer(text_cell(row["answer"], _label("answer"), where)),
        "level": 0,
        "solution": _opt_text(row["answer"]),
    }


def _row_college_math(row: Mapping[str, Any], idx: int, source: str, split: str, where: str) -> dict:
    book = as_text(row.get("data_source")).removeprefix("college_math.")
    number = as_text(row.get("question_number"))
    raw = f"{book}/{number}" if book and number else row.get("id")
    return {
        "id": _make_id(source, split, raw, idx),
        "query": text_cell(row["question"], _label("question"), where),
        "answer": text_cell(row["answer"], _label("answer"), where, gold=True),
        "domain": _opt_text(as_text(row.get("data_topic")).removeprefix("college_math.")),
    }


def _row_deepmind(row: Mapping[str, Any], idx: int, source: str, split: str, where: str) -> dict:
    return {
        "id": _make_id(source, split, row.get("id"), idx),
        "query": text_cell(row["question"], _label("question"), where),
        "answer": text_cell(row["answer"], _label("answer"), where, gold=True),
    }


def _tolerance(value: Any, where: str) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        tol = float(value)
    except (TypeError, ValueError):
        raise DartError(f"{where}: field 'error' is not a number: {value!r}") from None
    if not math.isfinite(tol) or tol < 0:
        raise DartError(f"{where}: field 'error' must be a finite number >= 0, got {value!r}")
    return tol


def _row_olympiadbench(row: Mapping[str, Any], idx: int, source: str, split: str, where: str) -> dict:
    final = row["final_answer"]
    column = _label("final_answer")
    answers = [
        text_cell(a, column, where, gold=True)
        for a in (final if isinstance(final, list) else [final])
        if a is not None
    ]
    context = text_cell(row.get("context"), _label("context"), where)
    question = text_cell(row["question"], _label("question"), where)
    solution = row.get("solution")
    if isinstance(solution, list):
        solution = solution[0] if solution else None
    return {
        "id": _make_id(source, split, row.get("id"), idx),
        "query": f"{context}\n\n{question}" if context else question,
        "answer": ", ".join(a for a in answers if a),
        "answers": answers,
        "domain": _opt_text(row.get("subfield")),
        "solution": _opt_text(solution),
        "answer_type": _opt_text(row.get("answer_type")),
        "multi_answer": bool(row.get("is_multiple_answer") or False),
        "unit": _opt_text(row.get("unit")),
        "tolerance": _tolerance(row.get("error"), where),
    }


def _row_theoremqa(row: Mapping[str, Any], idx: int, source: str, split: str, where: str) -> dict:
    answer_type = _opt_text(row.get("Answer_type"))
    explanation = as_text(row.get("explanation"))
    return {
        "id": _make_id(source, split, row.get("id"), idx),
        "query": text_cell(row["Question"], _label("Question"), where),
        "answer": theoremqa_answer(row["Answer"], answer_type),
        "domain": _opt_text(row.get("field")),
        "solution": explanation if explanation and explanation != "NONE" else None,
        "answer_type": answer_type,
        "needs_picture": bool(as_text(row.get("Picture"))),
    }


_LEVEL = re.compile(r"(?:level\s*)?([0-5])", re.IGNORECASE)


def _typed(name: str, value: Any, where: str) -> Any:
    """A normalised cell checked against `SOURCE_FEATURES` (a bad one names row and field)."""
    if name == "level":
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 5:
            return value
        match = _LEVEL.fullmatch(str(value).strip()) if isinstance(value, str) else None
        if match:
            return int(match.group(1))
        raise DartError(f"{where}: level must be an integer 0-5 or null, got {value!r}")
    if name in ("multi_answer", "needs_picture"):
        if not isinstance(value, bool):
            raise DartError(f"{where}: {name} must be true or false, got {value!r}")
        return value
    if name == "tolerance":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise DartError(f"{where}: tolerance must be a number or null, got {value!r}")
        return float(value)
    if name == "answers":
        if not isinstance(value, (list, tuple)):
            raise DartError(f"{where}: answers must be a list of strings, got {value!r}")
        return [as_text(v) for v in value]
    return value if isinstance(value, str) else as_text(value)


def _row_normalised(row: Mapping[str, Any], idx: int, source: str, split: str, where: str) -> dict:
    out = {
        name: _typed(name, row[name], where)
        for name in SOURCE_FEATURES
        if name in row and row[name] is not None and name not in ("query", "answer")
    }
    out["query"] = text_cell(row.get("query"), _label("query"), where)
    out["answer"] = text_cell(row.get("answer"), _label("answer"), where, gold=True)
    return out


def _loose_level(value: Any, where: str) -> int | None:
    """A level 0-5 (`3`, `"Level 3"`), or None when missing or unreadable (MATH's `Level ?`)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return _typed("level", value, where)
    except DartError:
        logger.warning("%s: level %r is not 0-5; level left null", where, value)
        return None


def _row_plain(row: Mapping[str, Any], idx: int, source: str, split: str, where: str) -> dict:
    """Any table with a question column `query` (a pool's own column mapped to it by
    `query_column`); `answer` (or the column `answer_column` names) is optional, and so are
    `id` / `unique_id`, `level`, `domain` / `type` / `subject` and `solution`."""
    return {
        "id": _make_id(source, split, row.get("id") or row.get("unique_id"), idx),
        "query": text_cell(row["query"], _label("query"), where),
        "answer": text_cell(row.get("answer"), _label("answer"), where, gold=True),
        "level": _loose_level(row.get("level"), where),
        "domain": _opt_text(row.get("domain") or row.get("type") or row.get("subject")),
        "solution": _opt_text(row.get("solution")),
    }


RowNormaliser = Callable[[Mapping[str, Any], int, str, str, str], dict]


@dataclass(frozen=True)
class Normaliser:
    """How one raw format becomes the normalised schema.

    Attributes:
        fn: Row function `(row, index, source, split, where) -> columns`.
        required: Columns the raw data must have.
    """

    fn: RowNormaliser
    required: tuple[str, ...]


NORMALISERS: dict[str, Normaliser] = {
    "math": Normaliser(_row_math, ("problem", "solution")),
    "math500": Normaliser(_row_math500, ("problem", "answer")),
    "gsm8k": Normaliser(_row_gsm8k, ("question", "answer")),
    "college_math": Normaliser(_row_college_math, ("question", "answer")),
    "deepmind_mathematics": Normaliser(_row_deepmind, ("question", "answer")),
    "olympiadbench": Normaliser(_row_olympiadbench, ("question", "final_answer")),
    "theoremqa": Normaliser(_row_theoremqa, ("Question", "Answer", "Answer_type")),
    "normalised": Normaliser(_row_normalised, ("id", "source", "query", "answer")),
    "plain": Normaliser(_row_plain, ("query",)),
}


def normalise_batch(
    batch: dict[str, list],
    indices: list[int],
    *,
    source: str,
    normaliser: str,
    split: str,
    location: str,
    version: str = NORMALISE_VERSION,
    renamed: Mapping[str, tuple[str, str]] | None = None,
) -> dict[str, list]:
    """Stage: raw rows of one format -> columns of `SOURCE_FEATURES`.

    Args:
        batch: Raw columns.
        indices: Row indices in the whole file (ids of rows without their own id use them).
        source: Registry name written to `source` and used in ids.
        normaliser: Key of `NORMALISERS`.
        split: `train` or `test`, used in ids.
        location: Where the rows came from, for error messages.
        version: `NORMALISE_VERSION`, so datasets' fingerprint changes with the code.
        renamed: Columns a flag renamed, `{"query": ("messages", "--query-column")}`, so
            that messages name the column as the user gave it.

    Raises:
        DartError: A bad row, named by its number and field (e.g. a list where text is needed).
    """
    del version
    fn = NORMALISERS[normaliser].fn
    out: dict[str, list] = {name: [] for name in SOURCE_FEATURES}
    for i, idx in enumerate(indices):
        row = {key: values[i] for key, values in batch.items()}
        where = f"{location} row {idx + 1}"
        try:
            fields = fn(row, idx, source, split, where)
        except DartError as exc:  # name the user's column where a flag renamed it
            text = str(exc)
            for name, (given, flag) in (renamed or {}).items():
                text = text.replace(f"column {name!r} holds", f"column {given!r} ({flag}) holds")
            raise DartError(text) from None
        record = {**_DEFAULTS, "source": source, **fields}
        if not str(record.get("query") or "").strip():
            raise DartError(f"{where}: the query is empty")
        if record["answers"] is None:
            record["answers"] = [record["answer"]]
        for name in SOURCE_FEATURES:
            out[name].append(record[name])
    return out
