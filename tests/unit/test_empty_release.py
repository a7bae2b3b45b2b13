"""A release no query gave a sample to (a weak model, a tiny budget): `datasets` cannot load
an empty split ("Instruction 'train' corresponds to no data"), so the build says so beside
its path and the push check refuses it. Found by the served-model build test."""

from __future__ import annotations

from pathlib import Path

from datasets import Dataset, Features, Value

from dart_hf.hub import folder as hub


def _release(tmp_path: Path, rows: int) -> Path:
    features = Features({"query": Value("string"), "response": Value("string")})
    ds = Dataset.from_dict({"query": ["q"] * rows, "response": ["r"] * rows}, features=features)
    folder = tmp_path / f"release-{rows}"
    hub.write_hub_folder({"default": ds}, folder)
    return folder


def test_an_empty_release_is_named_and_not_pushable(tmp_path: Path) -> None:
    empty = _release(tmp_path, 0)
    assert hub.empty_splits(empty) == ["data/train"]
    problems = hub.check_hub_folder(empty)
    assert problems == ["data/train-*: no rows (`load_dataset` cannot read an empty split)"]


def test_a_release_with_rows_has_no_empty_split(tmp_path: Path) -> None:
    full = _release(tmp_path, 3)
    assert hub.empty_splits(full) == [] and hub.check_hub_folder(full) == []
    assert hub.parquet_rows(full / "data" / "train-00000-of-00001.parquet") == 3
