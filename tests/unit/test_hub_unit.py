"""Hub staging without a Hub: the folder layout `push_to_hub` would write (configs, shards,
row groups, cards), its checks, repo ids, and the checked-in cards against the Hub's rules."""

from __future__ import annotations

import fnmatch
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from datasets import Dataset, Features, load_dataset
from datasets.utils.metadata import MetadataConfigs
from helpers import hub_samples as _samples
from huggingface_hub import DatasetCard, DatasetCardData

from dart_hf.errors import DartError
from dart_hf.hub import folder as hub
from dart_hf.hub import push


def test_single_config_layout_loads_with_features(tmp_path: Path) -> None:
    ds = _samples()
    hub.write_hub_folder({"default": ds}, tmp_path)
    assert hub.staged_files(tmp_path) == ["README.md", "data/train-00000-of-00001.parquet"]
    card = DatasetCard((tmp_path / "README.md").read_text(encoding="utf-8"))
    data = card.data.to_dict()
    assert data["configs"] == [
        {"config_name": "default", "data_files": [{"split": "train", "path": "data/train-*"}]}
    ]
    info = data["dataset_info"]
    assert info["splits"] == [{"name": "train", "num_bytes": ds.data.nbytes, "num_examples": 20}]
    assert info["download_size"] == (tmp_path / "data/train-00000-of-00001.parquet").stat().st_size
    # the YAML round-trips through DatasetCardData
    assert DatasetCardData(**data).to_dict() == data
    loaded = load_dataset(str(tmp_path), split="train")
    assert loaded.features == ds.features
    assert Features._from_yaml_list(info["features"]) == loaded.features
    assert loaded["response"] == ds["response"]
    assert hub.check_hub_folder(tmp_path) == []


def test_several_configs_as_push_to_hub_names_them(tmp_path: Path) -> None:
    samples = _samples()
    queries = Dataset.from_dict({"id": ["a", "b"], "samples": [3, 4]})
    hub.write_hub_folder({"samples": samples, "queries": queries}, tmp_path)
    assert hub.staged_files(tmp_path) == [
        "README.md",
        "queries/train-00000-of-00001.parquet",
        "samples/train-00000-of-00001.parquet",
    ]
    card = DatasetCard((tmp_path / "README.md").read_text(encoding="utf-8"))
    configs = MetadataConfigs.from_dataset_card_data(card.data)
    assert configs.get_default_config_name() == "samples"
    infos = {i["config_name"]: i for i in card.data.to_dict()["dataset_info"]}
    for name, ds in (("samples", samples), ("queries", queries)):
        loaded = load_dataset(str(tmp_path), name, split="train")
        assert loaded.features == ds.features
        assert Features._from_yaml_list(infos[name]["features"]) == ds.features
        assert infos[name]["splits"][0]["num_examples"] == len(ds)
    assert load_dataset(str(tmp_path), split="train").num_rows == len(samples)  # the default
    assert hub.check_hub_folder(tmp_path) == []


def test_shards_and_row_groups(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets.config

    monkeypatch.setattr(datasets.config, "MAX_ROW_GROUP_SIZE", "20KB")
    ds = _samples(n=600, width=200)
    hub.write_hub_folder({"default": ds}, tmp_path, max_shard_bytes=60_000)
    files = hub.staged_files(tmp_path)
    n = int(ds.data.nbytes / 60_000) + 1
    assert n > 1
    assert files[1:] == [f"data/train-{i:05d}-of-{n:05d}.parquet" for i in range(n)]
    groups = [
        pq.ParquetFile(tmp_path / f).metadata.row_group(i).total_byte_size
        for f in files[1:]
        for i in range(pq.ParquetFile(tmp_path / f).metadata.num_row_groups)
    ]
    assert len(groups) > n and max(groups) <= 1.5 * 20_000
    assert load_dataset(str(tmp_path), split="train")["query"] == ds["query"]
    assert hub.check_hub_folder(tmp_path) == []  # row-group size is no viewer limit now
    # fewer shards on a rewrite: the stale ones go
    hub.write_hub_folder({"default": ds.select(range(10))}, tmp_path)
    assert hub.staged_files(tmp_path)[1:] == ["data/train-00000-of-00001.parquet"]


def test_selected_view_is_sized_by_its_rows(tmp_path: Path) -> None:
    big = _samples(n=2000, width=100)
    small = big.select(range(0, 2000, 100))
    hub.write_hub_folder({"default": small}, tmp_path, max_shard_bytes=50_000)
    assert hub.staged_files(tmp_path)[1:] == ["data/train-00000-of-00001.parquet"]
    info = DatasetCard((tmp_path / "README.md").read_text()).data.to_dict()["dataset_info"]
    assert info["splits"][0]["num_bytes"] == pytest.approx(big.data.nbytes / 100, rel=0.05)
    assert load_dataset(str(tmp_path), split="train")["query"] == small["query"]


def test_rewrite_keeps_body_other_yaml_and_splits(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text(
        "---\nlicense: mit\npretty_name: Mine\n---\n\n# My card\n\nHand-written words.\n",
        encoding="utf-8",
    )
    hub.write_hub_folder({"default": _samples()}, tmp_path)
    hub.write_hub_folder({"default": _samples(n=5)}, tmp_path, split="test")
    card = DatasetCard((tmp_path / "README.md").read_text(encoding="utf-8"))
    assert "Hand-written words." in card.text
    assert card.data.license == "mit" and card.data.pretty_name == "Mine"
    assert card.data.to_dict()["configs"][0]["data_files"] == [
        {"split": "test", "path": "data/test-*"},
        {"split": "train", "path": "data/train-*"},
    ]
    splits = {s["name"]: s["num_examples"] for s in card.data.to_dict()["dataset_info"]["splits"]}
    assert splits == {"train": 20, "test": 5}
    loaded = load_dataset(str(tmp_path))
    assert {k: v.num_rows for k, v in loaded.items()} == {"train": 20, "test": 5}
    assert hub.check_hub_folder(tmp_path) == []


@pytest.mark.parametrize(
    ("configs", "split", "message"),
    [
        ({}, "train", "no datasets"),
        ({"data": None}, "train", "not allowed"),
        ({"a/b": None}, "train", "not allowed"),
        ({"default": None}, "tr ain", "split name"),
        ({"default": [1, 2]}, "train", "expected a datasets.Dataset, got list"),
    ],
)
def test_bad_staging_input(tmp_path: Path, configs: dict, split: str, message: str) -> None:
    with pytest.raises(DartError, match=message):
        hub.write_hub_folder(configs, tmp_path, split=split)


def test_bad_readme_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("---\n: : [\n---\nbody\n", encoding="utf-8")
    with pytest.raises(DartError, match="README.md"):
        hub.write_hub_folder({"default": _samples()}, tmp_path)


def test_check_hub_folder_finds_viewer_problems(tmp_path: Path) -> None:
    hub.write_hub_folder({"default": _samples()}, tmp_path)
    (tmp_path / "loader.py").write_text("print(1)\n")
    (tmp_path / "data" / "train-00003-of-00009.parquet").write_bytes(
        (tmp_path / "data" / "train-00000-of-00001.parquet").read_bytes()
    )
    (tmp_path / "data" / "train.csv").write_text("a\n1\n")
    text = (tmp_path / "README.md").read_text().replace("path: data/train-*", "path: data/*")
    text = text.replace("configs:\n", "configs:\n- config_name: other\n  data_files: nothing/*\n")
    (tmp_path / "README.md").write_text(text)
    problems = "\n".join(hub.check_hub_folder(tmp_path))
    assert "loader.py: loading scripts" in problems
    assert "train.csv: not a parquet file" in problems
    assert "incomplete or mixed shard sequence" in problems
    assert "'nothing/*' matches no file" in problems


def test_every_configs_glob_matches(tmp_path: Path) -> None:
    hub.write_hub_folder({"samples": _samples(), "queries": _samples(n=3)}, tmp_path)
    card = DatasetCard((tmp_path / "README.md").read_text(encoding="utf-8"))
    files = hub.staged_files(tmp_path)
    for cfg in card.data.to_dict()["configs"]:
        for entry in cfg["data_files"]:
            assert fnmatch.filter(files, entry["path"])


def test_repo_id_resolution() -> None:
    def me() -> dict:
        return {"name": "alice"}

    assert push.resolve_repo_id(Path("/x/dart-math-hard"), None, None, me) == "alice/dart-math-hard"
    assert push.resolve_repo_id(Path("/x/f"), "name", "org", me) == "org/name"
    assert push.resolve_repo_id(Path("/x/f"), "o/n", None, me) == "o/n"
    with pytest.raises(DartError, match="conflicts"):
        push.resolve_repo_id(Path("/x/f"), "o/n", "org", me)
    with pytest.raises(DartError, match="invalid repo id"):
        push.resolve_repo_id(Path("/x/f"), "bad name", None, me)


REPO = Path(__file__).resolve().parents[2]


CHECKED_IN_CARDS = sorted([*REPO.glob("docs/examples/*/README.md"), *REPO.glob("docs/examples/*/card.md")])


@pytest.mark.parametrize("card", CHECKED_IN_CARDS, ids=lambda p: str(p.relative_to(REPO)))
def test_checked_in_cards_validate(card: Path) -> None:
    from hub_server import validate_card

    assert validate_card(card.read_text(encoding="utf-8"), "dataset") == []
