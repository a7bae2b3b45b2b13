"""The release schema: a scripted build's releases hold exactly the declared columns, types and
values; folders made under an older schema resume, graded rounds that cannot give it are refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from datasets import Dataset, Features, load_dataset

from dart_hf.arrow_io import write_arrow
from dart_hf.build import run as build
from dart_hf.build import schema
from dart_hf.errors import DartError
from dart_hf.strategies import STRATEGIES as REGISTRY

REPO = Path(__file__).resolve().parents[2]
MATH = REPO / "dart_hf" / "data" / "math" / "train.jsonl"
BASE = {
    "engine": "scripted",
    "pool": "gsm8k,math",
    "limit": 10,
    "template": "deepseekmath",
    "temperature": 1.0,
    "max_tokens": 4096,
    "strategies": "uniform,prop2diff,vrt",
    "k_u": 3,
    "k_p": 6,
    "vrt_n": 6,
    "max_trials": 24,
    "difficulty_samples": 4,
    "round_cap": 6,
    "shard_size": 4,
    "num_proc": 1,
}
STRATEGIES = ["uniform", "prop2diff", "vrt"]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("schema") / "run"
    build.run_build(dict(BASE), out)
    return out


def _configs(out: Path) -> dict[tuple[str, str], Path]:
    """(release folder, config) -> its parquet file."""
    found = {}
    for f in sorted((out / "releases").glob("*/*/train-*.parquet")):
        folder, sub = f.parent.parent.name, f.parent.name
        found[(folder, "default" if sub == "data" else sub)] = f
    return found


def _check_releases(out: Path, strategies: list[str], *, majority: bool = False) -> None:
    configs = _configs(out)
    assert set(configs) == {
        *((REGISTRY[name].release, "default") for name in strategies),
        (build.POOL_RELEASE, "samples"),
        (build.POOL_RELEASE, "queries"),
    }
    for (folder, config), path in configs.items():
        table = pq.read_table(path)
        got = Features.from_arrow_schema(table.schema)
        want = schema.features(config, strategies, majority=majority)
        assert list(got) == list(want), (folder, config)
        assert got == want, (folder, config)
        ds = Dataset(table)
        assert schema.bad_values(ds, config, strategies, majority=majority) == {}, (folder, config)
        readme = (path.parents[1] / "README.md").read_text(encoding="utf-8")
        assert f"Release schema {schema.RELEASE_SCHEMA_VERSION}:" in readme


def test_releases_hold_exactly_the_declared_columns(built: Path) -> None:
    _check_releases(built, STRATEGIES)
    # the closed sets are the owners' tuples and the scripted build uses some of them
    samples = load_dataset(str(built / "releases" / "dart-math-pool"), "samples", split="train")
    assert {"incorrect", None} <= set(samples.unique("drop_reason"))
    assert set(samples.unique("grade_status")) <= {
        "ok",
        "no_answer",
        "hedge",
        "timeout",
        "error",
        "truncated",
        "bad_gold",
    }


def test_card_column_table_reads_the_schema(built: Path) -> None:
    card = (built / "releases" / "dart-math-pool" / "README.md").read_text(encoding="utf-8")
    assert "| samples | `drop_reason` | string | why the sample can be in no release" in card
    assert "| queries | `kept_vrt` | int64 | responses of the query released in the `vrt` set |" in card
    assert "| samples | `response` | string | a sampled solution, correct or not" in card
    uniform = (built / "releases" / "dart-math-uniform" / "README.md").read_text(encoding="utf-8")
    assert "| default | `response` | string | a sampled solution whose final answer was graded" in (uniform)


def test_an_older_release_schema_resumes(built: Path, tmp_path: Path) -> None:
    """Releases are assembled again from the graded rounds: an old folder gets the new schema."""
    old = tmp_path / "old"
    shutil.copytree(built, old)
    record = json.loads((old / "build.json").read_text(encoding="utf-8"))
    assert "release_schema" not in json.dumps(record)  # not part of the fingerprint
    pool = old / "releases" / "dart-math-pool"
    samples = next((pool / "samples").glob("*.parquet"))
    pq.write_table(pq.read_table(samples).drop_columns(["drop_reason"]), samples)  # before it
    for card in (old / "releases").glob("*/README.md"):
        text = card.read_text(encoding="utf-8")
        card.write_text(
            text.replace(f"Release schema {schema.RELEASE_SCHEMA_VERSION}:", ""), encoding="utf-8"
        )
    build.run_build(dict(BASE), old)
    _check_releases(old, STRATEGIES)
    for f in _configs(old).values():
        assert f.read_bytes() == _configs(built)[(f.parents[1].name, _config_of(f))].read_bytes()


def _config_of(path: Path) -> str:
    return "default" if path.parent.name == "data" else path.parent.name


def test_graded_rounds_without_a_declared_column_are_refused(built: Path, tmp_path: Path) -> None:
    old = tmp_path / "old"
    shutil.copytree(built, old)
    for graded in (old / "rounds").glob("round-*/graded.arrow"):
        ds = Dataset.from_file(str(graded)).remove_columns(["verdict_source"])
        tmp = graded.with_name("graded.new")
        write_arrow(ds.flatten_indices(), tmp)
        del ds
        tmp.replace(graded)
    for cache in (old / "rounds").glob("round-*/release-*.arrow"):
        cache.unlink()
    with pytest.raises(DartError) as err:
        build.run_build(dict(BASE), old)
    message = str(err.value)
    assert "missing verdict_source" in message
    assert f"dart-hf regrade {old}" in message and "new --out" in message


def test_a_majority_build_has_gold_source(tmp_path: Path) -> None:
    raw = [json.loads(line) for line in MATH.read_text(encoding="utf-8").splitlines()[:6]]
    pool = tmp_path / "no-answers.jsonl"
    pool.write_text(
        "".join(json.dumps({k: r[k] for k in ("problem", "level", "type", "unique_id")}) + "\n" for r in raw),
        encoding="utf-8",
    )
    settings = {
        **BASE,
        "pool": str(pool),
        "query_column": "problem",
        "gold": "majority",
        "strategies": "uniform",
        "decontaminate": False,
        "max_trials": 16,
    }
    settings.pop("limit")
    out = tmp_path / "run"
    build.run_build(settings, out)
    _check_releases(out, ["uniform"], majority=True)
    info = load_dataset(str(out / "releases" / "dart-math-pool"), "queries", split="train")
    assert info.column_names[-1] == "gold_source"
