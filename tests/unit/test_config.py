"""The one settings path (`config.resolve_section`) that build, sample, eval and train share."""

from __future__ import annotations

import pytest

from dart_hf.config import resolve_section
from dart_hf.errors import DartError

NAMES = {"k_u", "max_trials", "model", "temperature"}


def test_section_wins_over_flat_keys_and_flags_win_over_both() -> None:
    recipe = {"k_u": 4, "max_trials": 64, "benchmarks": "math", "build": {"k_u": 8}}
    got = resolve_section(recipe, "build", {"max_trials": 128, "model": None}, NAMES)
    assert got == {"k_u": 8, "max_trials": 128}  # eval's `benchmarks` left to eval


def test_unknown_keys_in_the_section_or_the_flags_are_errors() -> None:
    with pytest.raises(DartError, match=r"recipe `build:`: unknown setting\(s\) 'k_uu' \(did you"):
        resolve_section({"build": {"k_uu": 1}}, "build", {}, NAMES)
    with pytest.raises(DartError, match=r"option: unknown setting\(s\) 'temprature'"):
        resolve_section({}, "build", {"temprature": 0.5}, NAMES)
    with pytest.raises(DartError, match="`build` must be a mapping"):
        resolve_section({"build": [1]}, "build", {}, NAMES)


def test_flat_names_and_strict_flat_recipes() -> None:
    recipe = {"model": "synth", "temperature": 1.0, "eval": {"temperature": 0.0}}
    assert resolve_section(recipe, "eval", {}, NAMES, flat_names={"model"}) == {
        "model": "synth",
        "temperature": 0.0,
    }
    with pytest.raises(DartError, match=r"my.yaml: unknown setting\(s\) 'benchmarks'"):
        resolve_section({"benchmarks": "x"}, "train", {}, NAMES, flat_strict=True, where="my.yaml")


def test_train_ignores_a_build_recipe_top_level_when_it_has_a_train_mapping() -> None:
    from dart_hf.training.train import resolve_train_config

    recipe = {"model": "deepseek-ai/deepseek-math-7b-rl", "k_u": 40, "train": {"epochs": 2}}
    config = resolve_train_config(recipe, {})
    assert config.model is None and config.epochs == 2  # the synthesis model is not trained
    assert resolve_train_config({"epochs": 3, "lr": 1e-5}, {"epochs": 1}).epochs == 1


def test_sample_reads_the_build_mapping(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import yaml

    from dart_hf.sampling.command import sample_command
    from dart_hf.sources import load_pool

    table = tmp_path / "table.parquet"
    load_pool("gsm8k", limit=2).select_columns(["query", "answer"]).to_parquet(str(table))
    build = {
        "pool": "gsm8k",
        "limit": 2,
        "engine": "scripted",
        "n": 2,
        "template": "alpaca",
        "engine_options": {"table": str(table)},
    }
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"build": build}))
    summary = sample_command(str(recipe), tmp_path / "out", {"max_tokens": 256})
    assert summary.startswith("4 completions for 2 queries")


def test_one_engine_spec_from_settings_and_back_from_a_record() -> None:
    import json

    from dart_hf.config import BuildConfig
    from dart_hf.engines import EngineSpec

    cfg = BuildConfig(
        model="m",
        engine="scripted",
        seed=7,
        dtype="float32",
        max_model_len=1024,
        engine_options={"table": "t.jsonl", "glitch_rate": 0.0},
    )
    spec = cfg.engine_spec(level_pass_rates=[0.5, 0.4])
    assert spec == EngineSpec(
        backend="scripted",
        model="m",
        seed=7,
        dtype="float32",
        max_model_len=1024,
        options=(("glitch_rate", 0.0), ("level_pass_rates", [0.5, 0.4]), ("table", "t.jsonl")),
    )
    assert cfg.engine_spec(seed=3).seed == 3 and cfg.engine_spec().options == cfg.engine_options
    record = json.loads(json.dumps(cfg.engine_spec(table="x").to_dict()))
    assert EngineSpec.from_dict(record) == cfg.engine_spec(table="x")
    hash(EngineSpec.from_dict({"backend": "vllm", "options": {"a": [1, 2], "b": {"c": 1}}}))
