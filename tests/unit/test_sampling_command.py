"""sampling/command.py: `dart-hf sample`'s settings path (recipe, its `build:` mapping,
options), its checks before any pool or engine work, and the resumable shards it writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from datasets import load_dataset

from dart_hf.errors import DartError
from dart_hf.sampling.command import sample_command
from dart_hf.sources import load_pool


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the scripted engine answers: the first GSM8K rows, always right."""
    path = tmp_path_factory.mktemp("sample") / "table.jsonl"
    rows = [
        {"query": r["query"], "answer": r["answer"], "solution": r["solution"]}
        for r in load_pool("gsm8k", limit=4)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _options(table: Path, **over: object) -> dict:
    base = {
        "pool": "gsm8k",
        "limit": 3,
        "engine": "scripted",
        "n": 2,
        "temperature": 1.0,
        "engine_options": {"table": str(table)},
        "max_tokens": 256,
        "template": "alpaca",
        "shard_size": 2,
    }
    return {**base, **over}


def _rows(out: Path) -> list[dict]:
    files = sorted(str(p) for p in out.glob("shard-*.parquet"))
    return load_dataset("parquet", data_files=files, split="train").to_list()


def test_samples_every_query_n_times_and_resumes(table: Path, tmp_path: Path) -> None:
    out = tmp_path / "s"
    line = sample_command(None, out, _options(table))
    assert line.startswith("6 completions for 3 queries, ") and line.endswith(f" in {out}")
    rows = _rows(out)
    assert len(rows) == 6 and len(list(out.glob("shard-*.parquet"))) == 2  # 2 queries a shard
    ids = [r["id"] for r in load_pool("gsm8k", limit=3)]
    assert sorted((r["id"], r["sample_idx"]) for r in rows) == sorted((q, k) for q in ids for k in range(2))
    assert {r["engine"] for r in rows} == {"scripted"} and {r["round"] for r in rows} == {0}
    mtimes = {p: p.stat().st_mtime_ns for p in out.glob("shard-*.parquet")}
    assert sample_command(None, out, _options(table)) == line  # finished shards are kept
    assert {p: p.stat().st_mtime_ns for p in out.glob("shard-*.parquet")} == mtimes
    with pytest.raises(DartError, match="temperature"):  # other settings, same folder
        sample_command(None, out, _options(table, temperature=0.5))


def test_a_recipes_build_mapping_and_options(table: Path, tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text("limit: 3\nbuild:\n  limit: 1\n", encoding="utf-8")
    opts = _options(table, limit=None)  # None: not given, the recipe's `build:` wins
    assert sample_command(str(recipe), tmp_path / "a", opts).startswith("2 completions for 1 ")
    opts = _options(table, limit=2)  # an option wins over both
    assert sample_command(str(recipe), tmp_path / "b", opts).startswith("4 completions for 2 ")


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"pool": None}, "no query pool: give --pool"),
        ({"engine": "tgi"}, "unknown engine 'tgi'"),
        ({"template": "nope"}, "unknown template 'nope'"),
        ({"max_tokens": 4096, "max_model_len": 4096}, "leaves no room for the prompt"),
        ({"n": 0}, "n"),
    ],
)
def test_bad_settings_fail_before_any_work(table: Path, tmp_path: Path, over: dict, message: str) -> None:
    out = tmp_path / "s"
    with pytest.raises(DartError, match=message):
        sample_command(None, out, _options(table, **over))
    assert not out.exists() or not list(out.glob("shard-*"))
