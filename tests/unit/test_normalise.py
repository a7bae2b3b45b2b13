"""normalise.py: the stage on tiny in-memory raw batches, one per format, and the gold
answers read off each format (the real files: tests/integration/test_sources_integration.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from datasets import Dataset

from dart_hf.errors import DartError
from dart_hf.normalise import (
    NORMALISE_VERSION,
    SOURCE_FEATURES,
    gsm8k_answer,
    normalise_batch,
    render_number,
    theoremqa_answer,
)


def _one(rows: list[dict], normaliser: str, source: str = "src", split: str = "train") -> list:
    batch = {k: [r.get(k) for r in rows] for k in rows[0]}
    out = normalise_batch(
        batch, list(range(len(rows))), source=source, normaliser=normaliser, split=split, location="t.jsonl"
    )
    assert list(out) == list(SOURCE_FEATURES)
    return [dict(zip(out, values, strict=True)) for values in zip(*out.values(), strict=True)]


def test_math_rows() -> None:
    (row,) = _one(
        [
            {
                "problem": " What is $1+1$? ",
                "solution": "So $\\boxed{2}$.",
                "level": "Level 3",
                "type": "Algebra",
                "unique_id": "train/algebra/7.json",
            }
        ],
        "math",
        source="math",
    )
    assert row["id"] == "math/train/algebra/7" and row["source"] == "math"
    assert row["query"] == "What is $1+1$?" and row["answer"] == "2" and row["answers"] == ["2"]
    assert row["level"] == 3 and row["domain"] == "Algebra" and row["solution"] == "So $\\boxed{2}$."
    assert row["multi_answer"] is False and row["needs_picture"] is False and row["unit"] is None


def test_gsm8k_rows_take_the_answer_after_the_last_marker() -> None:
    rows = _one([{"question": "How many?", "answer": "2 + 3 = 5 #### 1,234"}] * 2, "gsm8k", source="gsm8k")
    assert [r["id"] for r in rows] == ["gsm8k/train/0", "gsm8k/train/1"]  # row indices
    assert rows[0]["answer"] == "1234" and rows[0]["level"] == 0
    assert gsm8k_answer("no marker") == "" and gsm8k_answer("a #### 1 #### 2") == "2"


def test_plain_rows_read_loose_levels_and_optional_columns() -> None:
    rows = _one(
        [
            {"query": "Q1", "answer": "4", "level": "Level 2", "subject": "Geometry"},
            {"query": "Q2", "answer": None, "level": "Level ?", "subject": None},
        ],
        "plain",
        source="pool",
    )
    assert rows[0]["level"] == 2 and rows[0]["domain"] == "Geometry" and rows[0]["answer"] == "4"
    assert rows[1]["level"] is None and rows[1]["answer"] == "" and rows[1]["domain"] is None


def test_an_empty_query_names_the_row() -> None:
    with pytest.raises(DartError, match="t.jsonl row 2: the query is empty"):
        _one([{"query": "fine"}, {"query": "   "}], "plain")


def test_the_stage_runs_in_a_batched_map() -> None:
    raw = Dataset.from_dict({"question": ["A?", "B?"], "answer": ["#### 1", "#### 2"]})
    ds = raw.map(
        normalise_batch,
        batched=True,
        with_indices=True,
        remove_columns=raw.column_names,
        fn_kwargs={
            "source": "gsm8k",
            "normaliser": "gsm8k",
            "split": "test",
            "location": "x",
            "version": NORMALISE_VERSION,
        },
        features=SOURCE_FEATURES,
    )
    assert ds.features == SOURCE_FEATURES
    assert ds["id"] == ["gsm8k/test/0", "gsm8k/test/1"] and ds["answer"] == ["1", "2"]


@pytest.mark.parametrize(
    ("value", "answer_type", "text"),
    [
        (True, "bool", "True"),
        ("false", "bool", "False"),
        ("[1, 2.5]", "list of float", "[1, 2.5]"),
        ("(c)", "option", "(c)"),
        (3e-36, "float", "3 \\times 10^{-36}"),
        ("0.0100", "float", "0.0100"),  # written digits kept
    ],
)
def test_theoremqa_answers(value: object, answer_type: str, text: str) -> None:
    assert theoremqa_answer(value, answer_type) == text


def test_render_number() -> None:
    assert render_number(11760) == "11760" and render_number(1.42) == "1.42"
    assert render_number(4e-05) == "4 \\times 10^{-5}"
    assert render_number(Decimal("2.50")) == "2.50"
