"""Rejection tuning without a model: training settings, recipes, data-file errors, the
schedule handed to the Trainer, and the model card (runs: tests/integration/test_training.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from dart_hf.errors import DartError
from dart_hf.recipe import load_recipe
from dart_hf.training.packing import load_train_data
from dart_hf.training.train import (
    TrainConfig,
    render_model_card,
    resolve_train_config,
    training_arguments,
)

pytest.importorskip("datasets")
pytest.importorskip("torch")


def test_config_defaults_are_the_papers_schedule() -> None:
    c = TrainConfig()
    assert (c.weight_decay, c.warmup_ratio, c.lr_scheduler) == (0.0, 0.03, "cosine")
    assert c.packing and c.max_length == 4096


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epochs": 0}, "epochs"),
        ({"lr": -1.0}, "lr"),
        ({"batch_size": 0}, "batch_size"),
        ({"grad_accum": 0}, "grad_accum"),
        ({"max_steps": 0}, "max_steps"),
        ({"warmup_ratio": 1.0}, "warmup_ratio"),
        ({"lr_scheduler": "wsd"}, "valid: constant_with_warmup, cosine, linear"),
        ({"template": "nope"}, "valid:"),
    ],
)
def test_config_validates(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(DartError, match=message):
        TrainConfig(**kwargs)


PAPER = {
    "train-mistral-7b": (1e-5, 3),
    "train-deepseekmath-7b": (5e-5, 3),
    "train-llama3-8b": (5e-5, 1),
    "train-llama3-70b": (2e-5, 1),
}


@pytest.mark.parametrize("name", [*PAPER, "train-embedded", "train-ci"])
def test_recipes(name: str) -> None:
    config = resolve_train_config(load_recipe(name), {}, where=name)
    if name in PAPER:
        assert (config.lr, config.epochs) == PAPER[name]
        assert config.max_length == 4096 and config.packing
        assert config.model and "/" in config.model
    else:
        assert config.model is None  # the embedded SmolLM2
    assert (config.weight_decay, config.warmup_ratio, config.lr_scheduler) == (0.0, 0.03, "cosine")


def test_recipe_overrides_and_errors() -> None:
    config = resolve_train_config({"lr": "1e-5", "epochs": 2}, {"epochs": 5.0, "seed": None})
    assert (config.lr, config.epochs, config.seed) == (1e-5, 5.0, 0)
    assert resolve_train_config({"train": {"grad_accum": 3}}, {}).grad_accum == 3
    with pytest.raises(DartError, match="unknown setting.*learning_rate.*valid:"):
        resolve_train_config({"learning_rate": 1e-5}, {})
    with pytest.raises(DartError, match="batch_size must be a whole number"):
        resolve_train_config({"batch_size": 1.5}, {})
    with pytest.raises(DartError, match="lr must be a number"):
        resolve_train_config({"lr": "fast"}, {})


def test_load_train_data_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"question": "q", "answer": "a"}) + "\n", encoding="utf-8")
    with pytest.raises(DartError, match="missing 'query', 'response'; found: question, answer"):
        load_train_data(str(bad))
    with pytest.raises(DartError, match="does not exist"):
        load_train_data(str(tmp_path / "nope.jsonl"))
    with pytest.raises(DartError, match="expected a .parquet, .jsonl or .json file"):
        load_train_data(str(bad.with_suffix(".txt").write_text("x") and bad.with_suffix(".txt")))


def test_load_train_data_bad_files_name_the_problem(tmp_path: Path) -> None:
    """Issue 14.9: an empty file, a bad line and a missing relative file each say so."""
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(DartError, match="is empty"):
        load_train_data(str(empty))
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps({"query": "q", "response": "r"}) + "\n{oops\n", encoding="utf-8")
    with pytest.raises(DartError, match="line 2 is not valid JSON"):
        load_train_data(str(broken))
    with pytest.raises(DartError, match="does not exist") as err:
        load_train_data("runs/pairs.jsonl")  # looks like a Hub id: owner/name
    assert "Hub" not in str(err.value)


def test_training_arguments_carry_the_schedule(tmp_path: Path) -> None:
    config = TrainConfig(epochs=2.5, lr=3e-5, batch_size=2, grad_accum=5, seed=9, max_steps=11, save_steps=4)
    args = training_arguments(config, tmp_path, progress=False)
    assert args.num_train_epochs == 2.5 and args.max_steps == 11
    assert args.learning_rate == 3e-5 and args.weight_decay == 0.0
    assert args.per_device_train_batch_size == 2 and args.gradient_accumulation_steps == 5
    assert args.lr_scheduler_type == "cosine" and args.optim == "adamw_torch"
    assert args.seed == 9 and args.save_steps == 4
    assert args.get_warmup_steps(100) == 3  # warmup ratio 0.03
    assert not args.bf16 and not args.gradient_checkpointing  # CPU


def test_bf16_without_a_bf16_gpu_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from dart_hf.training import train as training

    monkeypatch.setattr(training, "_cuda", lambda: False)
    assert training.resolve_precision(TrainConfig())["bf16"] is False
    assert training.resolve_precision(TrainConfig(bf16=True))["bf16"] is True  # autocast: fine
    with pytest.raises(DartError, match=r"bf16: true needs a CUDA GPU .*no CUDA GPU is visible"):
        training.training_arguments(TrainConfig(bf16=True), tmp_path, progress=False)


def test_card_for_hub_ids() -> None:
    summary = {
        "model": {"model": "mistralai/Mistral-7B-v0.1", "model_hash": "ab", "revision": "c"},
        "data": "hkust-nlp/dart-math-hard",
        "data_stats": {
            "samples": 10,
            "status": {"ok": 9, "truncated": 1, "too_long": 0},
            "sequences": 3,
            "tokens": 100,
            "response_tokens": 60,
            "fill": 0.5,
        },
        "config": TrainConfig(model="mistralai/Mistral-7B-v0.1").to_dict(),
        "resolved": {"bf16": True, "gradient_checkpointing": True, "attn": "flash_attention_2"},
        "world_size": 8,
        "global_batch_size": 512,
        "steps": 3,
        "train_loss": 0.5,
        "wall_time_s": 10.0,
        "versions": {"transformers": "5"},
        "output": "/x/mistral-dart-hard",
    }
    text = render_model_card(summary)
    meta = yaml.safe_load(text.split("---")[1])
    assert meta["base_model"] == "mistralai/Mistral-7B-v0.1"
    assert meta["datasets"] == ["hkust-nlp/dart-math-hard"]
    assert "# mistral-dart-hard" in text and "bf16 autocast" in text


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"model": 5}, "model must be a string, got 5"),
        ({"epochs": float("nan")}, "epochs"),
        ({"seed": 2**40}, "seed"),
        ({"template": ["alpaca"]}, "template must be a string"),
    ],
)
def test_train_values_are_checked_as_every_config_is(settings: dict, message: str) -> None:
    """Issue 27 (phase 1 note): `resolve_train_config` checked numbers and booleans by hand,
    so a list or a number where text belongs went through; now `config.build_dataclass`."""
    from dart_hf.errors import DartError
    from dart_hf.training.train import resolve_train_config

    with pytest.raises(DartError, match=message):
        resolve_train_config(settings, {}, where="r.yaml")
