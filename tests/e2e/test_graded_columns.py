"""Graded columns keep their declared types whatever the batch holds (issue 27, item 1), and
an engine interrupted while it starts closes cleanly (found by CI: `close()` read an attribute
`__init__` had not set yet)."""

from __future__ import annotations

import sys
import types

import pytest
from datasets import Dataset, Value

from dart_hf.config import GradeConfig
from dart_hf.grading.grade import grade_dataset


def test_a_batch_without_any_answer_keeps_pred_a_string_column() -> None:
    # no response states an answer: every `pred` is None, which datasets would type `null`
    ds = Dataset.from_dict(
        {
            "response": ["I do not know.", "Let me think about it"],
            "answer": ["4", "7"],
        }
    )
    graded = grade_dataset(ds, GradeConfig(num_proc=1))
    assert graded["pred"] == [None, None]
    assert graded.features["pred"] == Value("string")
    assert graded.features["correct"] == Value("bool")
    assert graded.features["grade_status"] == Value("string")
    assert graded.features["verdict_source"] == Value("string")


def test_unreadable_golds_keep_correct_a_bool_column() -> None:
    ds = Dataset.from_dict({"response": ["so \\boxed{3}"], "answer": [""]})
    graded = grade_dataset(ds, GradeConfig(num_proc=1))
    assert graded["correct"] == [None]
    assert graded.features["correct"] == Value("bool")


def test_regrading_replaces_the_verdict_columns_keeping_the_others() -> None:
    ds = Dataset.from_dict(
        {
            "id": ["a"],
            "response": ["\\boxed{4}"],
            "answer": ["4"],
            "pred": [None],
            "correct": [None],
            "grade_status": ["no_answer"],
            "verdict_source": [None],
        }
    )
    graded = grade_dataset(ds, GradeConfig(num_proc=1))
    assert graded.column_names == ds.column_names
    assert graded["correct"] == [True]
    assert ds.features["pred"] == Value("null")  # as the older rounds were typed
    assert graded.features["pred"] == Value("string")


def test_ctrl_c_while_vllm_starts_closes_without_an_attribute_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Control logic only (a stand-in `vllm` module whose `LLM` is interrupted); the real
    engine is `tests/integration/test_reliability_vllm.py::test_ctrl_c_while_vllm_starts_...`."""
    from dart_hf.engines import vllm_engine
    from dart_hf.engines.base import EngineSpec

    class LLM:
        def __init__(self, **kwargs: object) -> None:
            raise KeyboardInterrupt

    fake = types.ModuleType("vllm")
    fake.LLM = LLM  # type: ignore[attr-defined]
    fake.__version__ = "0"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "vllm", fake)
    monkeypatch.setattr(
        vllm_engine,
        "resolve_model",
        lambda model: types.SimpleNamespace(path="/nowhere", model_id="m", model_hash="h"),
    )
    with pytest.raises(KeyboardInterrupt):
        vllm_engine.VLLMEngine(EngineSpec(backend="vllm", model="m"))
