"""Rejection tuning (`dart_hf.training.packing`, `dart_hf.training.train`, `dart-hf train`).

Real (query, response) pairs from the MATH and GSM8K train reference solutions. Control-logic
tests (steps, learning-rate trajectory, CLI, card) train a tiny randomly initialised Llama with
SmolLM2's tokenizer through the real Trainer; the integration tests use SmolLM2-135M itself.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from dart_hf.cli import cli
from dart_hf.errors import DartError
from dart_hf.sampling.prompts import render_prompt
from dart_hf.training.packing import (
    PackedCollator,
    load_train_data,
    pack_batch,
    prepare_dataset,
    tokenize_batch,
)
from dart_hf.training.train import TrainConfig, load_eval_results, load_model, train

datasets = pytest.importorskip("datasets")
torch = pytest.importorskip("torch")


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def pairs(shared_data: Path) -> Any:
    """64 real pairs: 32 GSM8K and 32 MATH train problems with their reference solutions."""
    rows = []
    with open(shared_data / "gsm8k" / "train.jsonl", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            rows.append({"query": r["question"], "response": r["answer"]})
            if len(rows) == 32:
                break
    with open(shared_data / "math" / "train.jsonl", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if len(r["problem"]) + len(r["solution"]) < 700:
                rows.append({"query": r["problem"], "response": r["solution"]})
            if len(rows) == 64:
                break
    return datasets.Dataset.from_list(rows)


@pytest.fixture(scope="module")
def small(pairs: Any) -> Any:
    """16 of the pairs (8 GSM8K, 8 MATH) for quick trainer runs."""
    return pairs.select(range(0, 64, 4))


@pytest.fixture(scope="module")
def smol() -> str:
    """Folder of the embedded SmolLM2-135M-Instruct (converted once, cached)."""
    from dart_hf.engines.models import resolve_model

    return resolve_model(None).path


@pytest.fixture(scope="module")
def tokenizer(smol: str) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(smol)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory, tokenizer: Any) -> str:
    """A 2-layer, 16-wide random Llama with SmolLM2's tokenizer: fast control-logic runs."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    folder = tmp_path_factory.mktemp("tiny-llama")
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def _tokenized(ds: Any, tokenizer: Any, max_length: int = 256) -> dict[str, list]:
    batch = ds.to_dict()
    return tokenize_batch(
        batch,
        list(range(len(ds))),
        tokenizer=tokenizer,
        template="alpaca",
        max_length=max_length,
    )


# --------------------------------------------------------------------------- config


# --------------------------------------------------------------------------- data


def test_labels_mask_exactly_the_prompt(pairs: Any, tokenizer: Any) -> None:
    out = _tokenized(pairs, tokenizer, max_length=4096)
    eos = tokenizer.eos_token_id
    for i, row in enumerate(pairs):
        ids, labels, n = out["input_ids"][i], out["labels"][i], out["n_prompt_tokens"][i]
        prompt = tokenizer(render_prompt("alpaca", row["query"]))["input_ids"]
        assert ids[:n] == prompt
        assert labels[:n] == [-100] * n
        assert labels[n:] == ids[n:] and -100 not in labels[n:]
        assert ids[-1] == eos and ids.count(eos) == 1
        assert tokenizer.decode(ids[n:-1]) == row["response"]
        assert out["status"][i] == "ok"


def test_truncation_and_too_long(pairs: Any, tokenizer: Any) -> None:
    out = _tokenized(pairs, tokenizer, max_length=100)
    for ids, labels, n, status in zip(
        out["input_ids"], out["labels"], out["n_prompt_tokens"], out["status"], strict=True
    ):
        assert len(ids) <= 100 and len(labels) == len(ids)
        assert status == ("too_long" if n >= 100 else "truncated" if len(ids) == 100 else "ok")
        if status == "truncated":
            assert ids[-1] != tokenizer.eos_token_id
    train_ds, stats = prepare_dataset(pairs, tokenizer, max_length=100, packing=False)
    assert stats["status"]["too_long"] == out["status"].count("too_long") > 0
    assert len(train_ds) == len(pairs) - stats["status"]["too_long"]
    assert all(any(t != -100 for t in row) for row in train_ds["labels"])
    assert stats["tokens"] == sum(map(len, train_ds["input_ids"]))
    assert stats["response_tokens"] == sum(t != -100 for row in train_ds["labels"] for t in row)


def test_bad_rows_name_row_and_field(tokenizer: Any) -> None:
    ds = datasets.Dataset.from_list([{"query": "1+1?", "response": "2"}, {"query": "2+2?", "response": " "}])
    with pytest.raises(DartError, match="row 1: field 'response'"):
        prepare_dataset(ds, tokenizer, max_length=64)


def test_pack_batch_keeps_every_sample(pairs: Any, tokenizer: Any) -> None:
    tok = _tokenized(pairs, tokenizer, max_length=256)
    packed = pack_batch(tok, max_length=512)
    assert sum(packed["n_samples"]) == len(pairs)
    samples = []
    for ids, labels, pos in zip(packed["input_ids"], packed["labels"], packed["position_ids"], strict=True):
        assert len(ids) == len(labels) == len(pos) <= 512
        starts = [i for i, p in enumerate(pos) if p == 0] + [len(pos)]
        for a, b in zip(starts, starts[1:], strict=False):
            assert pos[a:b] == list(range(b - a))
            assert labels[a] == -100  # every sample starts with prompt tokens
            samples.append((tuple(ids[a:b]), tuple(labels[a:b])))
    original = zip(tok["input_ids"], tok["labels"], strict=True)
    assert sorted(samples) == sorted((tuple(i), tuple(lab)) for i, lab in original)
    # best-fit-decreasing packs close to the lower bound
    assert len(packed["input_ids"]) <= math.ceil(sum(map(len, tok["input_ids"])) / 512) + 1


def test_collator(tokenizer: Any) -> None:
    collate = PackedCollator(pad_token_id=7)
    packed = collate(
        [
            {"input_ids": [1, 2, 3], "labels": [-100, 2, 3], "position_ids": [0, 1, 2]},
            {"input_ids": [4, 5], "labels": [-100, 5], "position_ids": [0, 1]},
        ]
    )
    assert packed["input_ids"].tolist() == [[1, 2, 3, 4, 5]]
    assert packed["position_ids"].tolist() == [[0, 1, 2, 0, 1]]
    assert "attention_mask" not in packed
    plain = collate([{"input_ids": [1, 2, 3], "labels": [-100, 2, 3]}, {"input_ids": [4], "labels": [4]}])
    assert plain["input_ids"].tolist() == [[1, 2, 3], [4, 7, 7]]
    assert plain["labels"].tolist() == [[-100, 2, 3], [4, -100, -100]]
    assert plain["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]


def test_load_train_data_layouts(pairs: Any, tmp_path: Path) -> None:
    hub = tmp_path / "release"
    (hub / "data").mkdir(parents=True)
    pairs.to_parquet(hub / "data" / "train-00000-of-00001.parquet")
    pairs.to_json(tmp_path / "pairs.jsonl")
    pairs.to_parquet(tmp_path / "pairs.parquet")
    for source in (hub, tmp_path / "pairs.jsonl", tmp_path / "pairs.parquet"):
        ds = load_train_data(str(source))
        assert len(ds) == len(pairs) and ds[5] == pairs[5]


# --------------------------------------------------------------------------- trainer


def _expected_lrs(total: int, peak: float, ratio: float) -> list[float]:
    """Learning rate applied at each optimizer step: linear warmup, then cosine to 0."""
    warmup = math.ceil(total * ratio)
    out = []
    for s in range(total):  # step k uses the schedule at k-1
        if s < warmup:
            out.append(peak * s / max(1, warmup))
        else:
            progress = (s - warmup) / max(1, total - warmup)
            out.append(peak * 0.5 * (1 + math.cos(math.pi * progress)))
    return out


RUNS = [
    # epochs, batch_size, grad_accum, lr, packing, max_steps, warmup_ratio
    (1, 2, 1, 1e-3, True, None, 0.03),
    (2, 2, 1, 1e-3, True, None, 0.03),
    (3, 1, 2, 5e-4, True, None, 0.2),
    (2, 4, 2, 2e-4, False, None, 0.1),
    (5, 4, 1, 1e-3, False, 7, 0.0),
]


@pytest.mark.parametrize(("epochs", "bs", "ga", "lr", "packing", "max_steps", "warmup"), RUNS)
def test_flags_reach_the_trainer(
    small: Any,
    tiny: str,
    tokenizer: Any,
    tmp_path: Path,
    epochs: int,
    bs: int,
    ga: int,
    lr: float,
    packing: bool,
    max_steps: int | None,
    warmup: float,
) -> None:
    config = TrainConfig(
        model=tiny,
        epochs=epochs,
        batch_size=bs,
        grad_accum=ga,
        lr=lr,
        packing=packing,
        max_steps=max_steps,
        warmup_ratio=warmup,
        max_length=512,
        logging_steps=1,
        seed=3,
    )
    summary = train(small, config, tmp_path, progress=False)
    rows = summary["data_stats"]["sequences"]
    assert rows == (len(small) if not packing else summary["data_stats"]["sequences"])
    if packing:
        assert rows < len(small)  # 16 pairs of ~150 tokens pack into fewer sequences
    per_epoch = math.ceil(math.ceil(rows / bs) / ga)
    steps = max_steps or epochs * per_epoch
    assert summary["steps"] == steps
    assert summary["learning_rates"] == pytest.approx(_expected_lrs(steps, lr, warmup), rel=1e-6)
    assert [x["step"] for x in summary["losses"]] == list(range(1, steps + 1))
    saved = yaml.safe_load((tmp_path / "train_config.yaml").read_text(encoding="utf-8"))
    assert saved == config.to_dict()
    assert json.loads((tmp_path / "training.json").read_text(encoding="utf-8"))["steps"] == steps


def test_rerun_resumes_from_the_last_checkpoint(small: Any, tiny: str, tmp_path: Path) -> None:
    import shutil

    config = TrainConfig(model=tiny, max_steps=4, save_steps=2, batch_size=2, lr=1e-3, max_length=512)
    first = train(small, config, tmp_path, progress=False)
    assert first["steps"] == 4 and first["resumed_from"] is None
    # as if killed after step 2: drop the last checkpoint and the final model
    shutil.rmtree(tmp_path / "checkpoints" / "checkpoint-4")
    (tmp_path / "model.safetensors").unlink()
    again = train(small, config, tmp_path, progress=False)
    assert again["resumed_from"].endswith("checkpoint-2") and again["steps"] == 4
    assert again["learning_rates"] == pytest.approx(first["learning_rates"][2:], rel=1e-6)
    assert (tmp_path / "model.safetensors").is_file()
    with pytest.raises(DartError, match=r"other settings \(lr\)"):
        train(small, dataclasses.replace(config, lr=2e-3), tmp_path, progress=False)


# --------------------------------------------------------------------------- CLI and card


EVAL = {
    "model": "x",
    "benchmarks": {
        "gsm8k": {"label": "GSM8K", "n": 2, "accuracy": 50.0},
        "math500": {"label": "MATH500", "n": 2, "accuracy": 0.0},
    },
    "average": {"benchmarks": [], "accuracy": None},
}


def test_cli_train_card_and_card_only(small: Any, tiny: str, tmp_path: Path) -> None:
    from huggingface_hub import ModelCard

    data = tmp_path / "pairs.jsonl"
    small.to_json(data)
    out = tmp_path / "model"
    args = ["train", "--data", str(data), "--model", tiny, "-o", str(out), "--config", "train-ci"]
    args += ["--epochs", "2", "--lr", "0.002", "--batch-size", "4", "--grad-accum", "2"]
    args += ["--max-length", "300", "--no-packing", "--seed", "4", "--max-steps", "3"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "3 steps" in result.output
    summary = json.loads((out / "training.json").read_text(encoding="utf-8"))
    c = summary["config"]
    assert (c["epochs"], c["lr"], c["batch_size"], c["grad_accum"]) == (2.0, 0.002, 4, 2)
    assert (c["max_length"], c["packing"], c["seed"], c["max_steps"]) == (300, False, 4, 3)
    assert c["logging_steps"] == 1  # from the recipe
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()
    card = ModelCard.load(out / "README.md")
    assert card.data.library_name == "transformers"
    assert str(data) in card.text and "| peak learning rate | 0.002 |" in card.text
    assert "No evaluation was attached" in card.text
    results = tmp_path / "results.json"
    results.write_text(json.dumps(EVAL), encoding="utf-8")
    again = CliRunner().invoke(cli, ["train", "--card-only", "-o", str(out), "--eval-results", str(results)])
    assert again.exit_code == 0, again.output
    card = ModelCard.load(out / "README.md")
    assert "| GSM8K | 2 | 50.0 |" in card.text and "| MATH500 | 2 | 0.0 |" in card.text
    metrics = [r.metric_value for r in card.data.eval_results]
    assert metrics == [50.0, 0.0]
    from transformers import AutoModelForCausalLM

    assert AutoModelForCausalLM.from_pretrained(out).config.use_cache is True


def _invoke(args: list[str]) -> Any:
    return CliRunner().invoke(cli, ["train", *args])


def test_cli_bad_input(tmp_path: Path, tiny: str) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"problem": "q", "solution": "a"}) + "\n", encoding="utf-8")
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"query": "1+1?", "response": "2"}) + "\n", encoding="utf-8")
    broken = tmp_path / "results.json"
    broken.write_text("{oops", encoding="utf-8")
    cases = [
        (["--data", str(bad), "--model", tiny], "found: problem, solution"),
        (["--data", str(good), "--model", str(tmp_path / "no-model")], "does not exist"),
        (["--data", str(tmp_path / "missing")], "does not exist"),
        (["--data", str(good), "--lr", "0"], "lr must be > 0"),
        (["--data", str(good), "--config", "nope"], "unknown recipe"),
        (["--data", str(good), "--push"], "--push needs --repo"),
        (["--data", str(good), "--eval-results", str(broken)], "not valid JSON"),
        (["--card-only"], "not a dart-hf training output"),
        ([], "--data is required"),
    ]
    for args, message in cases:
        result = _invoke([*args, "-o", str(tmp_path / "out")])
        assert result.exit_code != 0
        assert message in result.output, (args, result.output)
        assert "Traceback" not in result.output
    with pytest.raises(DartError, match="'benchmarks' mapping"):
        (tmp_path / "r.json").write_text("{}", encoding="utf-8")
        load_eval_results(tmp_path / "r.json")


# push_model is tested against the fake Hub in tests/e2e/test_hub.py.


# --------------------------------------------------------------------------- real model


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_packed_and_unpacked_logits_match(pairs: Any, smol: str, tokenizer: Any, attn: str) -> None:
    """The model as the Trainer runs it sees the same thing packed and unpacked."""
    few = pairs.select([0, 1, 40, 41])  # two GSM8K, two MATH
    config = TrainConfig(model=smol, attn_implementation=attn)
    model = load_model(smol, config).eval()
    assert model.config._attn_implementation == attn
    collate = PackedCollator(tokenizer.pad_token_id)
    plain, _ = prepare_dataset(few, tokenizer, max_length=1024, packing=False)
    packed, stats = prepare_dataset(few, tokenizer, max_length=1024, packing=True)
    assert stats["sequences"] == 1
    with torch.no_grad():
        pb = collate(list(packed))
        out_packed = model(**pb)
        ub = collate(list(plain))
        out_plain = model(**ub)
        naive = model(input_ids=pb["input_ids"]).logits  # no position reset: cross-attention
    ids, pos = pb["input_ids"][0].tolist(), pb["position_ids"][0].tolist()
    starts = [i for i, p in enumerate(pos) if p == 0] + [len(pos)]
    assert len(starts) == 5
    naive_gap = 0.0
    for a, b in zip(starts, starts[1:], strict=False):
        j = [k for k in range(len(plain)) if plain[k]["input_ids"] == ids[a:b]]
        assert len(j) == 1
        want = out_plain.logits[j[0], : b - a]
        torch.testing.assert_close(out_packed.logits[0, a:b], want, atol=2e-4, rtol=1e-4)
        naive_gap = max(naive_gap, (naive[0, a:b] - want).abs().max().item())
    assert naive_gap > 1.0  # the comparison can see cross-sample attention
    assert out_packed.loss.item() == pytest.approx(out_plain.loss.item(), rel=1e-4)


def test_short_run_lowers_the_loss(pairs: Any, smol: str, tokenizer: Any, tmp_path: Path) -> None:
    """Three steps of SmolLM2-135M itself on one GSM8K and one MATH pair packed into one
    sequence (253 tokens; four pairs, 579 tokens, took 130 s here) lower the loss."""
    few = pairs.select([0, 40])
    config = TrainConfig(
        model=smol,
        epochs=3,
        lr=1e-4,
        batch_size=1,
        grad_accum=1,
        max_length=1024,
        warmup_ratio=0.0,
        lr_scheduler="constant_with_warmup",
        logging_steps=1,
    )
    summary = train(few, config, tmp_path, progress=False)
    assert summary["data_stats"]["sequences"] == 1 and summary["steps"] == 3
    losses = [x["loss"] for x in summary["losses"]]
    assert losses[-1] < losses[0] * 0.9, losses

    def data_loss(folder: str) -> float:
        model = load_model(folder, config).eval()
        packed, _ = prepare_dataset(few, tokenizer, max_length=1024)
        with torch.no_grad():
            return float(model(**PackedCollator(tokenizer.pad_token_id)(list(packed))).loss)

    before, after = data_loss(smol), data_loss(str(tmp_path))
    assert after < before * 0.9, (before, after)
