"""The CUDA paths on a tiny random Llama with a small tokenizer, both made in the test.

bf16 generation through the transformers engine, and a packed training step with gradient
checkpointing (`training/packing.py`, `training/train.py`). Every test body runs twice: on "cpu"
always (CI) and on "cuda", skipped cleanly where `torch.cuda.is_available()` is false.

Nothing here needs a model file, the embedded GGUF or the network: a lent GPU machine runs this
layer from the checkout and a small wheelhouse (scripts/gpu_check.sh). The tokenizer is a
byte-level BPE trained on the test's own text (1,200 tokens; the ids of the packing check below
need at least 1,000).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
datasets = pytest.importorskip("datasets")

CUDA = torch.cuda.is_available()
DEVICES = [
    pytest.param("cpu", id="cpu"),
    pytest.param(
        "cuda",
        id="cuda",
        marks=[pytest.mark.gpu, pytest.mark.skipif(not CUDA, reason="needs CUDA (no GPU here)")],
    ),
]
PAIRS = {
    "query": [
        "Tom has 3 apples and buys 2 more. How many apples does he have?",
        "What is 6 times 7?",
        "A train goes 60 km in one hour. How far does it go in 3 hours?",
        "What is the remainder when 17 is divided by 5?",
    ],
    "response": [
        "He has 3 + 2 = 5 apples. The answer is $\\boxed{5}$.",
        "6 * 7 = 42, so the answer is $\\boxed{42}$.",
        "In 3 hours it goes 3 * 60 = 180 km. The answer is $\\boxed{180}$.",
        "17 = 3 * 5 + 2, so the remainder is $\\boxed{2}$.",
    ],
}


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    """A byte-level BPE (as SmolLM2's) trained on the pairs, the prompts and numbers."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    from dart_hf.sampling.prompts import render_prompt

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=1200,
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    text = [
        *PAIRS["query"],
        *PAIRS["response"],
        *(render_prompt("alpaca", q) for q in PAIRS["query"]),
    ]
    text += ["Question: what is 1 + 1?\nAnswer:", " ".join(str(i) for i in range(3000))]
    bpe.train_from_iterator(text, trainer)
    tok = transformers.PreTrainedTokenizerFast(
        tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )
    assert len(tok) >= 1000, len(tok)
    return tok


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory, tokenizer: Any) -> str:
    """A 2-layer, 16-wide random Llama saved with the tokenizer (fp32 weights on disk)."""
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
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
    transformers.LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


# --------------------------------------------------------------------------- generation


@pytest.mark.parametrize("device", DEVICES)
def test_bf16_generation_through_the_engine(device: str, tiny: str) -> None:
    from dart_hf.engines import EngineSpec, GenerationParams, get_engine, release_engine

    spec = EngineSpec(
        backend="transformers",
        model=tiny,
        dtype="bfloat16",
        options=(("batch_size", 3), ("device", device), ("num_threads", 1)),
    )
    engine = get_engine(spec)
    try:
        model = engine.model
        assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
        assert {p.device.type for p in model.parameters()} == {device}
        prompts = ["Question: what is 1 + 1?\nAnswer:", "Question: what is 2 * 3?\nAnswer:"]
        params = GenerationParams(temperature=1.0, max_tokens=6, seed=3)
        # 5 sequences in batches of 3: two generate calls, the second mixing both prompts
        out = engine.generate(prompts, params, n=[2, 3])
        assert [len(o) for o in out] == [2, 3]
        for c in (c for o in out for c in o):
            assert c.finish_reason in ("stop", "length") and 1 <= c.n_tokens <= 6
            assert c.finish_reason == "stop" or c.n_tokens == 6
        assert engine.generate(prompts, params, n=[2, 3]) == out  # re-seeded: same samples
        assert (
            engine.generate(prompts, GenerationParams(temperature=1.0, max_tokens=6, seed=4), n=[2, 3]) != out
        )

        # Greedy: the first token is the argmax of one bf16 forward pass over the prompt.
        tok = engine.tokenizer
        (first,) = engine.generate(
            prompts[:1], GenerationParams(temperature=0.0, max_tokens=4, seed=0), n=[1]
        )[0]
        enc = tok(prompts[:1], return_tensors="pt").to(device)
        with torch.inference_mode():
            logits = model(**enc).logits
        assert logits.dtype == torch.bfloat16 and logits.device.type == device
        step = tok.decode([int(logits[0, -1].argmax())], skip_special_tokens=True)
        if "\ufffd" not in step:  # a token that is part of a UTF-8 character decodes alone as �
            assert first.text.startswith(step), (first.text, step)
    finally:
        release_engine(spec)


# --------------------------------------------------------------------------- training


def _packed(tokenizer: Any, device: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The four pairs packed into one sequence, and each pair alone, as model inputs."""
    from dart_hf.training.packing import PackedCollator, prepare_dataset, tokenize_batch

    ds = datasets.Dataset.from_dict(PAIRS)
    train_ds, stats = prepare_dataset(ds, tokenizer, max_length=512, template="alpaca")
    assert (stats["samples"], stats["sequences"], train_ds["n_samples"]) == (4, 1, [4])
    batch = PackedCollator(tokenizer.pad_token_id)([train_ds[0]])
    alone = tokenize_batch(dict(PAIRS), [0, 1, 2, 3], tokenizer=tokenizer, template="alpaca", max_length=512)
    singles = [
        {"input_ids": torch.tensor([ids]).to(device), "labels": torch.tensor([labels]).to(device)}
        for ids, labels in zip(alone["input_ids"], alone["labels"], strict=True)
    ]
    return {k: v.to(device) for k, v in batch.items()}, singles


def _model(tiny: str, device: str, checkpointing: bool) -> Any:
    from dart_hf.training.train import TrainConfig, load_model

    config = TrainConfig(
        model=tiny, bf16=True, gradient_checkpointing=checkpointing, attn_implementation="sdpa"
    )
    model = load_model(tiny, config).to(device)
    if checkpointing:  # what the Trainer does with training_arguments' settings
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    return model


@pytest.mark.parametrize("device", DEVICES)
def test_packed_bf16_step_with_gradient_checkpointing(device: str, tiny: str, tokenizer: Any) -> None:
    packed, singles = _packed(tokenizer, device)

    def loss_of(model: Any, batch: dict[str, Any]) -> Any:
        with torch.autocast(device_type=device, dtype=torch.bfloat16):
            return model(**batch).loss

    model = _model(tiny, device, checkpointing=True)
    assert model.is_gradient_checkpointing and not model.config.use_cache
    assert {p.dtype for p in model.parameters()} == {torch.float32}  # fp32 master weights
    # A pre-hook on the layer's first module sees every run of the layer's body, the recompute
    # in backward included (transformers 5.25 checkpoints the class's forward, which a spy put on
    # the instance's `forward` no longer sees; the recompute stops early, after the last tensor
    # it needs, so a hook at the end of the layer would not see it either).
    layer, calls = model.model.layers[0], []
    hook = layer.input_layernorm.register_forward_pre_hook(lambda *_: calls.append(1))
    loss = loss_of(model, packed)
    assert len(calls) == 1
    loss.backward()
    loss = loss.detach()
    assert len(calls) == 2  # the layer ran again in backward: its activations were not kept
    hook.remove()

    # Packing keeps samples apart (position_ids restart at each sample: block-diagonal
    # attention). Changing the first sample's tokens leaves the later samples' logits as they
    # were; without position_ids (one causal block) they change. Each packed sample's logits
    # are those of the sample run alone.
    starts = (packed["position_ids"][0] == 0).nonzero().flatten().tolist()
    assert len(starts) == 4
    other = packed["input_ids"].clone()
    other[0, 1 : starts[1]] = (other[0, 1 : starts[1]] + 7) % 1000

    def later_logits(ids: Any, positions: Any) -> Any:
        with torch.no_grad(), torch.autocast(device_type=device, dtype=torch.bfloat16):
            return model(input_ids=ids, position_ids=positions).logits[0, starts[1] :].float()

    same = later_logits(packed["input_ids"], packed["position_ids"])
    scale = float(same.abs().max())
    assert float((later_logits(other, packed["position_ids"]) - same).abs().max()) <= 1e-3 * scale
    leak = later_logits(packed["input_ids"], None) - later_logits(other, None)
    assert float(leak.abs().max()) > 2e-2 * scale
    bounds = [*starts, packed["input_ids"].shape[1]]
    with torch.no_grad(), torch.autocast(device_type=device, dtype=torch.bfloat16):
        inside = model(**packed).logits[0].float()
    by_ids = {tuple(s["input_ids"][0].tolist()): s for s in singles}
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):  # longest first, not data order
        single = by_ids.pop(tuple(packed["input_ids"][0, lo:hi].tolist()))
        with torch.no_grad(), torch.autocast(device_type=device, dtype=torch.bfloat16):
            alone = model(input_ids=single["input_ids"]).logits[0].float()
        assert float((inside[lo:hi] - alone).abs().max()) <= 1e-2 * scale, (lo, hi)
    assert not by_ids  # every sample is in the pack once

    # The same gradients as without checkpointing, all finite, none missing.
    plain = _model(tiny, device, checkpointing=False)
    loss_of(plain, packed).backward()
    for (name, p), q in zip(model.named_parameters(), plain.parameters(), strict=True):
        assert p.grad is not None and bool(torch.isfinite(p.grad).all()), name
        assert torch.allclose(p.grad, q.grad, rtol=1e-2, atol=1e-5), name

    # One AdamW step lowers the loss on the batch.
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    optimizer.step()
    with torch.no_grad():
        assert float(loss_of(model, packed)) < float(loss)


@pytest.mark.parametrize("device", DEVICES)
def test_trainer_run_with_packing_bf16_and_checkpointing(
    device: str, tiny: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if device == "cpu" and CUDA:
        pytest.skip("the Trainer takes the GPU where there is one; the cpu case runs without")
    from dart_hf.training.train import TrainConfig, train

    # What the Trainer asks of the model: the call that enables checkpointing (the outermost one:
    # transformers 5.25 renamed it activation_checkpointing_enable, the old name calls the new).
    enabled: list[dict[str, Any] | None] = []
    depth = [0]
    for name in ("gradient_checkpointing_enable", "activation_checkpointing_enable"):
        original = getattr(transformers.PreTrainedModel, name, None)
        if original is None:
            continue

        def spy(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            if depth[0] == 0:
                new = kwargs.get("activation_checkpointing_kwargs")
                enabled.append(args[0] if args else kwargs.get("gradient_checkpointing_kwargs", new))
            depth[0] += 1
            try:
                return _original(self, *args, **kwargs)
            finally:
                depth[0] -= 1

        monkeypatch.setattr(transformers.PreTrainedModel, name, spy)
    # bf16 left to the machine: on with CUDA where supported (the Trainer refuses it on CPU)
    config = TrainConfig(
        model=tiny,
        max_steps=2,
        batch_size=1,
        grad_accum=1,
        max_length=128,
        lr=1e-3,
        gradient_checkpointing=True,
        logging_steps=1,
        warmup_ratio=0.0,
    )
    summary = train(datasets.Dataset.from_dict(PAIRS), config, tmp_path / "out", progress=False)
    assert enabled == [{"use_reentrant": False}]
    bf16 = device == "cuda" and torch.cuda.is_bf16_supported()
    assert summary["resolved"] == {
        "bf16": bf16,
        "gradient_checkpointing": True,
        "attn": summary["resolved"]["attn"],
    }
    assert summary["resolved"]["attn"] in ("sdpa", "flash_attention_2")
    assert summary["steps"] == 2 and len(summary["losses"]) == 2
    assert all(torch.isfinite(torch.tensor(x["loss"])) for x in summary["losses"])
    assert summary["data_stats"]["samples"] == 4 and summary["data_stats"]["sequences"] < 4
    before = transformers.AutoModelForCausalLM.from_pretrained(tiny).state_dict()
    after = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "out").state_dict()
    assert after.keys() == before.keys()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert after["model.embed_tokens.weight"].dtype == torch.float32
