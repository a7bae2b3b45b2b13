"""Rejection tuning: full fine-tuning of a causal LM on (query, response) pairs.

Data preparation (prompt masking, EOS, packing without cross-sample attention) lives in
`dart_hf.training.packing`; this module runs the transformers `Trainer` on it and writes the
model card.

The schedule is the paper's: AdamW, weight decay 0, linear warmup over 3% of the steps, cosine
decay. On CUDA, bf16 autocast and gradient checkpointing are on by default; several GPUs go
through `accelerate launch $(which dart-hf) train ...` (the Trainer reads the distributed
environment).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dart_hf.config import build_dataclass, resolve_section
from dart_hf.engines.models import resolve_model
from dart_hf.errors import DartError, missing_package, unknown_name
from dart_hf.logs import bars_disabled
from dart_hf.sampling.prompts import TEMPLATES, render_prompt
from dart_hf.training.packing import (
    PACK_VERSION,
    PackedCollator,
    check_columns,
    load_train_data,
    prepare_dataset,
)

logger = logging.getLogger(__name__)

SCHEDULERS = ("cosine", "linear", "constant_with_warmup")
CARD_TEMPLATE = "model.md.j2"
RESULTS_FILE = "training.json"
CONFIG_FILE = "train_config.yaml"
CHECKPOINT_DIR = "checkpoints"
"""Where `save_steps` checkpoints go, under the output folder; they are never pushed."""


@dataclass(frozen=True)
class TrainConfig:
    """Settings of a fine-tuning run (YAML recipe keys and CLI flags use the same names).

    Attributes:
        model: Model to fine-tune: None/"embedded" (SmolLM2-135M), a local folder or a Hub id.
        template: Prompt template for the queries (see `dart_hf.sampling.prompts.TEMPLATES`).
        epochs: Passes over the data (fractions allowed); ignored when `max_steps` is set.
        lr: Peak learning rate.
        batch_size: Sequences per device per micro-batch (packed sequences when packing).
        grad_accum: Micro-batches per optimizer step; global batch =
            batch_size * grad_accum * number of processes.
        max_length: Longest sequence in tokens (packed length when packing).
        packing: Pack samples into sequences of `max_length` tokens.
        max_steps: Stop after this many optimizer steps (None = run `epochs`).
        seed: Seed of initialisation, shuffling and dropout.
        weight_decay: AdamW weight decay.
        warmup_ratio: Share of the optimizer steps spent in linear warmup, in [0, 1).
        lr_scheduler: One of `SCHEDULERS`.
        bf16: bf16 autocast; None = on where CUDA supports it.
        gradient_checkpointing: None = on with CUDA.
        attn_implementation: transformers attention backend; None = flash_attention_2 on CUDA
            when installed, else sdpa.
        logging_steps: Log loss and learning rate every this many optimizer steps.
        save_steps: Save a checkpoint every this many steps (None = only the final model).
        packing_chunk: Samples packed together per map batch (bigger fills sequences better).
    """

    model: str | None = None
    template: str = "alpaca"
    epochs: float = 3.0
    lr: float = 1e-5
    batch_size: int = 1
    grad_accum: int = 64
    max_length: int = 4096
    packing: bool = True
    max_steps: int | None = None
    seed: int = 0
    weight_decay: float = 0.0
    warmup_ratio: float = 0.03
    lr_scheduler: str = "cosine"
    bf16: bool | None = None
    gradient_checkpointing: bool | None = None
    attn_implementation: str | None = None
    logging_steps: int = 10
    save_steps: int | None = None
    packing_chunk: int = 10_000

    def __post_init__(self) -> None:
        checks = [
            (self.epochs > 0, f"epochs must be > 0, got {self.epochs}"),
            (self.lr > 0, f"lr must be > 0, got {self.lr}"),
            (self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}"),
            (self.grad_accum >= 1, f"grad_accum must be >= 1, got {self.grad_accum}"),
            (self.max_length >= 16, f"max_length must be >= 16, got {self.max_length}"),
            (
                self.max_steps is None or self.max_steps >= 1,
                f"max_steps must be >= 1, got {self.max_steps}",
            ),
            (self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay}"),
            (
                0 <= self.warmup_ratio < 1,
                f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}",
            ),
            (self.logging_steps >= 1, f"logging_steps must be >= 1, got {self.logging_steps}"),
            (
                self.save_steps is None or self.save_steps >= 1,
                f"save_steps must be >= 1, got {self.save_steps}",
            ),
            (self.packing_chunk >= 1, f"packing_chunk must be >= 1, got {self.packing_chunk}"),
        ]
        for ok, message in checks:
            if not ok:
                raise DartError(message)
        if self.template not in TEMPLATES:
            raise unknown_name("template", self.template, TEMPLATES)
        if self.lr_scheduler not in SCHEDULERS:
            raise unknown_name("lr_scheduler", self.lr_scheduler, SCHEDULERS)

    def to_dict(self) -> dict[str, Any]:
        """The settings as a plain dict (what `train_config.yaml` and the card show)."""
        return dataclasses.asdict(self)


def resolve_train_config(
    recipe: dict[str, Any], overrides: dict[str, Any], where: str = "recipe"
) -> TrainConfig:
    """Build the `TrainConfig` from a recipe (its `train:` mapping, else its top level) and CLI
    overrides (None = not given).

    Raises:
        DartError: Unknown settings (listing the valid ones) or values of the wrong type.
    """
    names = frozenset(f.name for f in dataclasses.fields(TrainConfig))
    # With a `train:` mapping, the top level holds other commands' settings (a build recipe's
    # `model` is the synthesis model, not the one to train); without one, it is all training.
    has_section = "train" in recipe
    settings = resolve_section(
        recipe,
        "train",
        overrides,
        names,
        flat_names=frozenset() if has_section else names,
        flat_strict=not has_section,
        where=where,
    )
    if settings.get("model") in ("", "embedded"):
        settings["model"] = None
    return build_dataclass(TrainConfig, settings, where)  # every value checked by its type


# --------------------------------------------------------------------------- trainer


def _cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def _bf16_supported() -> bool:
    import torch

    return bool(torch.cuda.is_bf16_supported())


def resolve_precision(config: TrainConfig) -> dict[str, Any]:
    """Concrete bf16 / gradient checkpointing / attention backend for this machine."""
    import importlib.util

    import torch

    cuda = _cuda()
    bf16 = config.bf16
    if bf16 is None:
        bf16 = cuda and bool(torch.cuda.is_bf16_supported())
    checkpointing = cuda if config.gradient_checkpointing is None else config.gradient_checkpointing
    attn = config.attn_implementation
    if attn is None:
        attn = "flash_attention_2" if cuda and importlib.util.find_spec("flash_attn") is not None else "sdpa"
    return {"bf16": bool(bf16), "gradient_checkpointing": bool(checkpointing), "attn": attn}


def _bars_disabled() -> bool:
    return bars_disabled()  # -q, TQDM_DISABLE, HF_DATASETS_DISABLE_PROGRESS_BARS


def training_arguments(config: TrainConfig, out_dir: str | Path, *, progress: bool = True) -> Any:
    """The `transformers.TrainingArguments` that carry every setting of `config`."""
    from transformers import TrainingArguments

    precision = resolve_precision(config)
    if precision["bf16"] and not (_cuda() and _bf16_supported()):
        # the Trainer's own refusal is a ValueError deep inside TrainingArguments
        where = "this GPU has no bf16 support" if _cuda() else "no CUDA GPU is visible"
        raise DartError(f"bf16: true needs a CUDA GPU with bf16 ({where}); leave bf16 unset")
    fields = TrainingArguments.__dataclass_fields__
    warmup: dict[str, Any] = (
        {"warmup_ratio": config.warmup_ratio}
        if "warmup_ratio" in fields  # transformers 4.x
        else {"warmup_steps": config.warmup_ratio}  # 5.x: a float < 1 is a ratio
    )
    checkpointing = precision["gradient_checkpointing"]
    # Several CPU processes (torchrun without CUDA): the Trainer runs DDP over gloo only when
    # told it is on CPU; a single CPU process keeps the defaults (MPS and others untouched).
    cpu_ddp = not _cuda() and int(os.environ.get("WORLD_SIZE", "1")) > 1
    if cpu_ddp:
        warmup = {**warmup, "use_cpu": True, "ddp_backend": "gloo"}
    return TrainingArguments(
        output_dir=str(Path(out_dir) / CHECKPOINT_DIR),
        num_train_epochs=config.epochs,
        max_steps=config.max_steps or -1,
        per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum,
        learning_rate=config.lr,
        weight_decay=config.weight_decay,
        lr_scheduler_type=config.lr_scheduler,
        optim="adamw_torch",
        bf16=precision["bf16"],
        gradient_checkpointing=checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False} if checkpointing else None,
        logging_steps=config.logging_steps,
        save_strategy="steps" if config.save_steps else "no",
        save_steps=config.save_steps or 500,
        save_total_limit=2,
        seed=config.seed,
        data_seed=config.seed,
        report_to="none",
        remove_unused_columns=False,
        dataloader_pin_memory=_cuda(),
        disable_tqdm=not progress or _bars_disabled(),
        **warmup,  # and the CPU-DDP settings
    )


def _recorder() -> Any:
    from transformers import TrainerCallback

    class Recorder(TrainerCallback):  # type: ignore[misc]
        """Keep the learning rate each optimizer step actually used."""

        def __init__(self) -> None:
            self.lrs: list[float] = []

        def on_optimizer_step(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            optimizer = kw.get("optimizer")
            if optimizer is not None:
                self.lrs.append(float(optimizer.param_groups[0]["lr"]))

    return Recorder()


def load_model(path: str, config: TrainConfig) -> Any:
    """Load a causal LM to train: fp32 master weights (bf16 comes from autocast), no KV cache."""
    import torch
    from transformers import AutoModelForCausalLM

    attn = resolve_precision(config)["attn"]
    try:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation=attn)
    except (OSError, ValueError) as exc:
        raise DartError(f"cannot load model {path!r} for training: {exc}") from None
    # A KV cache turns off transformers' packed-sequence detection from position_ids (the
    # block-diagonal mask), so packed samples would attend to each other: no cache in training.
    model.config.use_cache = False
    return model


def train(
    data: Any,
    config: TrainConfig,
    out_dir: str | Path,
    *,
    data_name: str | None = None,
    eval_results: dict[str, Any] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Fine-tune `config.model` on (query, response) pairs and save it with a model card.

    Writes into `out_dir`: the model and tokenizer (safetensors), `train_config.yaml`,
    `training.json` (data statistics, steps, losses, learning rates, wall time) and
    `README.md` (the model card). With `save_steps`, checkpoints go to `out_dir/checkpoints`
    and rerunning the same call resumes from the newest one.

    Args:
        data: A `datasets.Dataset` with `query` and `response`, or anything
            `load_train_data` accepts.
        config: The run's settings.
        out_dir: Output folder.
        data_name: Name of the data shown in the card (default: `data` when it is a string).
        eval_results: An evaluation `results.json` to show in the card.
        progress: Show progress bars.

    Returns:
        The contents of `training.json`.
    """
    try:
        import torch  # noqa: F401
        from transformers import AutoTokenizer, Trainer
    except ImportError:
        raise missing_package("torch", "pip install 'dart-hf[train]' torch", "training") from None
    if isinstance(data, str):
        data_name = data_name or data
        data = load_train_data(data)
    check_columns(data.column_names, data_name or "training data")
    info = resolve_model(config.model)
    out = Path(out_dir)
    tokenizer = AutoTokenizer.from_pretrained(info.path)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    args = training_arguments(config, out, progress=progress)
    with args.main_process_first(desc="tokenize and pack"):
        train_ds, data_stats = prepare_dataset(
            data,
            tokenizer,
            max_length=config.max_length,
            template=config.template,
            packing=config.packing,
            packing_chunk=config.packing_chunk,
        )
    logger.info("training data: %s", data_stats)
    model = load_model(info.path, config)
    recorder = _recorder()
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train_ds,
        data_collator=PackedCollator(tokenizer.pad_token_id),
        processing_class=tokenizer,
        callbacks=[recorder],
    )
    resume = _last_checkpoint(out / CHECKPOINT_DIR)
    saved = out / CONFIG_FILE
    if resume and saved.is_file():
        before = yaml.safe_load(saved.read_text(encoding="utf-8"))
        if before != config.to_dict():
            changed = sorted(k for k, v in config.to_dict().items() if before.get(k) != v)
            raise DartError(
                f"{out} holds checkpoints of a run with other settings ({', '.join(changed)}); "
                "use another -o/--out or delete it"
            )
    if resume:
        logger.info("resuming from %s", resume)
    if trainer.is_world_process_zero():
        out.mkdir(parents=True, exist_ok=True)
        saved.write_text(yaml.safe_dump(config.to_dict(), sort_keys=False), encoding="utf-8")
    start = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=resume)
    wall = time.perf_counter() - start
    history = trainer.state.log_history
    summary: dict[str, Any] = {
        "pack_version": PACK_VERSION,
        "data": data_name,
        "data_stats": data_stats,
        "model": {
            "model": info.model_id,
            "model_hash": info.model_hash,
            "revision": info.revision,
        },
        "config": config.to_dict(),
        "resolved": resolve_precision(config),
        "world_size": args.world_size,
        "global_batch_size": config.batch_size * config.grad_accum * args.world_size,
        "resumed_from": resume,
        "steps": trainer.state.global_step,
        "epochs_run": trainer.state.epoch,
        "train_loss": result.training_loss,
        "losses": [{"step": h["step"], "loss": h["loss"]} for h in history if "loss" in h and "step" in h],
        "learning_rates": recorder.lrs,
        "wall_time_s": round(wall, 2),
        "tokens_per_s": round(data_stats["tokens"] * (trainer.state.epoch or 0) / wall, 1)
        if wall > 0
        else None,
        "versions": _versions(),
    }
    model.config.use_cache = True  # for inference with the saved model
    trainer.save_model(str(out))  # on every process: FSDP gathers the weights collectively
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(str(out))
        (out / RESULTS_FILE).write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
        write_model_card(out, eval_results=eval_results)
        checkpoints = out / CHECKPOINT_DIR
        if checkpoints.is_dir() and not any(checkpoints.iterdir()):
            checkpoints.rmdir()
    return summary


def _last_checkpoint(folder: Path) -> str | None:
    """The newest `checkpoint-N` of an interrupted run (`save_steps`), else None."""
    if not folder.is_dir():
        return None
    from transformers.trainer_utils import get_last_checkpoint

    last = get_last_checkpoint(str(folder))
    return str(last) if last else None


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {}
    for name in ("dart-hf", "transformers", "torch", "datasets", "accelerate"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            continue
    return out


# --------------------------------------------------------------------------- card


def _cards_dir() -> Path:
    from importlib import resources

    shipped = Path(str(resources.files("dart_hf"))) / "dataset_cards"
    return shipped if shipped.is_dir() else Path(__file__).resolve().parents[2] / "dataset_cards"


def load_eval_results(path: str | Path) -> dict[str, Any]:
    """Read an evaluation `results.json` (as `dart-hf eval` writes it)."""
    p = Path(path)
    if not p.is_file():
        raise DartError(f"evaluation results file not found: {p}")
    try:
        results = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DartError(f"{p}: not valid JSON: {exc}") from None
    if not isinstance(results, dict) or not isinstance(results.get("benchmarks"), dict):
        raise DartError(f"{p}: expected `dart-hf eval` results with a 'benchmarks' mapping")
    return results


def _eval_rows(results: dict[str, Any] | None) -> list[dict[str, Any]]:
    rows = []
    for name, entry in ((results or {}).get("benchmarks") or {}).items():
        acc = entry.get("accuracy") if isinstance(entry, dict) else entry
        if isinstance(acc, int | float):
            label = entry.get("label", name) if isinstance(entry, dict) else name
            n = entry.get("n") if isinstance(entry, dict) else None
            rows.append({"name": name, "label": label, "n": n, "accuracy": float(acc)})
    return rows


def _prompt_text(template: str) -> str:
    try:
        return render_prompt(template, "{query}")
    except DartError:  # chat templates need the tokenizer: the card names it instead
        return f"(the model's chat template, dart-hf template {template!r})"


def _hub_like(name: Any) -> bool:
    return isinstance(name, str) and name.count("/") == 1 and not Path(name).exists()


def render_model_card(summary: dict[str, Any], eval_results: dict[str, Any] | None = None) -> str:
    """The model card (README.md, YAML header included) of a trained model."""
    from huggingface_hub import EvalResult, ModelCardData

    model_id = summary["model"]["model"]
    data = summary.get("data")
    rows = _eval_rows(eval_results)
    name = Path(str(summary.get("output", "model"))).name
    card_data = ModelCardData(
        library_name="transformers",
        pipeline_tag="text-generation",
        base_model=model_id if _hub_like(model_id) else None,
        datasets=[str(data)] if _hub_like(data) else None,
        tags=["dart-math", "dart-hf", "rejection-tuning", "math", "sft"],
        language=["en"],
        model_name=name if rows else None,
        eval_results=[
            EvalResult(
                task_type="text-generation",
                dataset_type=r["name"],
                dataset_name=r["label"],
                metric_type="accuracy",
                metric_value=r["accuracy"],
            )
            for r in rows
        ]
        or None,
    )
    from dart_hf.hub.cards import render_template  # lazy: imports datasets

    context = {
        "yaml": card_data.to_yaml(),
        "name": name,
        "s": summary,
        "c": summary["config"],
        "rows": rows,
        "eval": eval_results,
        "prompt": _prompt_text(summary["config"]["template"]),
    }
    return render_template(CARD_TEMPLATE, context)


def write_model_card(out_dir: str | Path, eval_results: dict[str, Any] | None = None) -> Path:
    """(Re)write `README.md` of a trained model folder from its `training.json`."""
    out = Path(out_dir)
    path = out / RESULTS_FILE
    if not path.is_file():
        raise DartError(f"{out}: not a dart-hf training output (no {RESULTS_FILE})")
    summary = json.loads(path.read_text(encoding="utf-8"))
    summary["output"] = str(out.resolve())
    card = out / "README.md"
    card.write_text(render_model_card(summary, eval_results), encoding="utf-8")
    return card


def push_model(
    out_dir: str | Path,
    repo_id: str | None,
    *,
    org: str | None = None,
    private: bool = False,
    token: str | None = None,
    endpoint: str | None = None,
    retries: int = 5,
    backoff_s: float = 1.0,
    on_retry: Callable[[str, BaseException], None] | None = None,
    **options: Any,
) -> str:
    """Upload a trained model folder (weights, tokenizer, card) to a Hub model repo.

    `options` go to `push.push_folder` as they are (`revision`, `create_pr`, `commit_message`,
    `commit_description`).

    Checkpoints stay local. Every step is retried as a dataset push is (`push.push_folder`),
    and files the Hub already has are skipped, so rerunning a failed push resumes it
    (`dart-hf push OUT --repo ORG/NAME` pushes a trained model folder too).

    `repo_id` and `org` resolve as for `push.push_folder` (`ORG/NAME`, `NAME`, or None for the
    folder's name).

    Returns:
        The URL of the commit.
    """
    from dart_hf.hub.push import push_folder  # lazy: imports datasets

    out = Path(out_dir)
    if not (out / RESULTS_FILE).is_file():
        raise DartError(f"{out}: not a dart-hf training output (no {RESULTS_FILE})")
    return push_folder(
        out,
        repo_id,
        org=org,
        private=private,
        token=token,
        endpoint=endpoint,
        retries=retries,
        backoff_s=backoff_s,
        on_retry=on_retry,
        repo_type="model",
        exclude=(f"{CHECKPOINT_DIR}/",),
        **options,
    )
