"""Training data for rejection tuning: loading, tokenization with prompt masking, packing.

Two dataset stages and a collator:

1. `tokenize_batch` renders each query with a prompt template (Alpaca by default), tokenizes
   prompt and response separately (the prompt exactly as an inference engine sees it), appends
   EOS, and sets `labels` to -100 over the prompt tokens, so the loss covers only the response
   and its EOS.
2. `pack_batch` packs tokenized samples best-fit-decreasing into sequences of at most
   `max_length` tokens, with `position_ids` restarting at 0 for every sample.
3. `PackedCollator` flattens a micro-batch of packed sequences into one row without an attention
   mask. transformers turns restarting `position_ids` into sample boundaries (varlen kernels for
   flash-attention, a block-diagonal causal mask for sdpa/eager) as long as the model runs
   without a KV cache, so packed samples never attend to each other.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dart_hf.errors import DartError
from dart_hf.sampling.prompts import render_prompt

PACK_VERSION = "1"
"""Bump when `tokenize_batch` or `pack_batch` change their output (datasets' cache key)."""

REQUIRED_COLUMNS = ("query", "response")
STATUSES = ("ok", "truncated", "too_long")
"""`ok`: kept whole; `truncated`: response cut at max_length (no EOS); `too_long`: the prompt
alone fills max_length, dropped."""


def load_train_data(data: str) -> Any:
    """Load the training pairs from a Hub-layout folder, a parquet/JSONL file or a Hub id.

    Args:
        data: A folder that `datasets.load_dataset` reads (e.g. a staged DART release), a
            `.parquet`/`.jsonl`/`.json` file, or a Hub dataset id.

    Returns:
        The `train` split (or the only split) as a `datasets.Dataset`.

    Raises:
        DartError: Missing path, unreadable data, several splits without `train`, or no
            `query`/`response` columns (the message lists the columns found).
    """
    import datasets

    from dart_hf.sources import check_jsonl  # lazy: imports datasets

    path = Path(data).expanduser()
    try:
        if path.is_file():
            kinds = {".parquet": "parquet", ".jsonl": "json", ".json": "json"}
            kind = kinds.get(path.suffix)
            if kind is None:
                raise DartError(f"{data}: expected a .parquet, .jsonl or .json file")
            if path.stat().st_size == 0:
                raise DartError(f"training data {data} is empty")
            if path.suffix == ".jsonl":
                check_jsonl(path)  # a bad line is named by its number
            loaded: Any = datasets.load_dataset(kind, data_files=str(path), split="train")
        elif path.is_dir():
            loaded = datasets.load_dataset(str(path))
        elif (
            data.startswith((".", "/", "~"))
            or data.count("/") != 1
            or path.suffix in (".parquet", ".jsonl", ".json")
        ):
            raise DartError(f"training data {data!r} does not exist")
        else:
            loaded = datasets.load_dataset(data)
    except DartError:
        raise
    except Exception as exc:  # unreadable file, offline Hub: all user-facing
        raise DartError(f"cannot load training data {data!r}: {exc}") from None
    if isinstance(loaded, datasets.DatasetDict):
        if "train" in loaded:
            loaded = loaded["train"]
        elif len(loaded) == 1:
            loaded = next(iter(loaded.values()))
        else:
            raise DartError(f"{data}: no 'train' split; splits: {', '.join(loaded)}")
    check_columns(loaded.column_names, data)
    if len(loaded) == 0:
        raise DartError(f"{data}: no rows")
    return loaded


def check_columns(columns: Sequence[str], where: str) -> None:
    """Raise DartError unless `query` and `response` are among `columns`."""
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise DartError(
            f"{where}: training data needs columns 'query' and 'response'; missing "
            f"{', '.join(map(repr, missing))}; found: {', '.join(columns) or '(none)'}"
        )


def tokenize_batch(
    batch: dict[str, list],
    indices: list[int],
    *,
    tokenizer: Any,
    template: str,
    max_length: int,
    version: str = PACK_VERSION,
) -> dict[str, list]:
    """Tokenize (query, response) pairs; labels are -100 exactly over the prompt tokens.

    The prompt is tokenized on its own with the tokenizer's special tokens (BOS where the
    model uses one), the response without them, and EOS is appended, so the model learns to
    stop. A sample longer than `max_length` keeps its first `max_length` tokens (without EOS).

    Args:
        batch: Rows with `query` and `response`.
        indices: Row numbers (for error messages); use `map(with_indices=True)`.
        tokenizer: A transformers tokenizer with an EOS token.
        template: Prompt template name.
        max_length: Longest sample in tokens.
        version: Stage version (cache key).

    Returns:
        Columns `input_ids`, `labels`, `n_tokens`, `n_prompt_tokens`, `status` (see
        `STATUSES`).

    Raises:
        DartError: A null or empty query/response (names the row and field).
    """
    for field in REQUIRED_COLUMNS:
        for i, value in zip(indices, batch[field], strict=True):
            if not isinstance(value, str) or not value.strip():
                raise DartError(f"training data row {i}: field {field!r} is empty or not text")
    eos = tokenizer.eos_token_id
    prompts = [render_prompt(template, q, tokenizer=tokenizer) for q in batch["query"]]
    prompt_ids = tokenizer(prompts, add_special_tokens=True)["input_ids"]
    response_ids = tokenizer(batch["response"], add_special_tokens=False)["input_ids"]
    out: dict[str, list] = {
        "input_ids": [],
        "labels": [],
        "n_tokens": [],
        "n_prompt_tokens": [],
        "status": [],
    }
    for p, r in zip(prompt_ids, response_ids, strict=True):
        ids = list(p) + list(r) + [eos]
        labels = [-100] * len(p) + list(r) + [eos]
        status = "ok"
        if len(ids) > max_length:
            status = "too_long" if len(p) >= max_length else "truncated"
            ids, labels = ids[:max_length], labels[:max_length]
        out["input_ids"].append(ids)
        out["labels"].append(labels)
        out["n_tokens"].append(len(ids))
        out["n_prompt_tokens"].append(len(p))
        out["status"].append(status)
    return out


def pack_batch(batch: dict[str, list], *, max_length: int, version: str = PACK_VERSION) -> dict[str, list]:
    """Pack samples best-fit-decreasing into sequences of at most `max_length` tokens.

    Returns fewer rows than it gets: one per packed sequence, with `input_ids`, `labels`,
    `position_ids` (restarting at 0 for every sample) and `n_samples`.
    """
    lengths = [len(ids) for ids in batch["input_ids"]]
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    bins: list[list[int]] = []
    free: list[tuple[int, int]] = []  # (remaining room, bin index), sorted
    for i in order:
        n = lengths[i]
        k = bisect_left(free, (n, -1))
        if k < len(free):
            room, b = free.pop(k)
        else:
            room, b = max_length, len(bins)
            bins.append([])
        bins[b].append(i)
        if room - n > 0:
            insort(free, (room - n, b))
    out: dict[str, list] = {"input_ids": [], "labels": [], "position_ids": [], "n_samples": []}
    for members in bins:
        ids: list[int] = []
        labels: list[int] = []
        positions: list[int] = []
        for i in members:
            ids += batch["input_ids"][i]
            labels += batch["labels"][i]
            positions += range(lengths[i])
        out["input_ids"].append(ids)
        out["labels"].append(labels)
        out["position_ids"].append(positions)
        out["n_samples"].append(len(members))
    return out


def prepare_dataset(
    ds: Any,
    tokenizer: Any,
    *,
    max_length: int,
    template: str = "alpaca",
    packing: bool = True,
    packing_chunk: int = 10_000,
) -> tuple[Any, dict[str, Any]]:
    """Tokenize (and pack) a (query, response) dataset for the Trainer.

    Args:
        ds: A `datasets.Dataset` with `query` and `response`.
        tokenizer: The model's tokenizer (needs an EOS token).
        max_length: Longest sequence (packed length when packing).
        template: Prompt template name.
        packing: Pack samples into sequences of `max_length` tokens.
        packing_chunk: Samples packed together per map batch.

    Returns:
        The training dataset and its statistics (`samples`, `status` counts, `sequences`,
        `tokens`, `response_tokens`, `fill` = tokens / (sequences * max_length)).
    """
    check_columns(ds.column_names, "training data")
    if tokenizer.eos_token_id is None:
        raise DartError("the model's tokenizer has no EOS token")
    tokenized = ds.map(
        tokenize_batch,
        batched=True,
        with_indices=True,
        remove_columns=ds.column_names,
        fn_kwargs={
            "tokenizer": tokenizer,
            "template": template,
            "max_length": max_length,
            "version": PACK_VERSION,
        },
        desc="tokenize",
    )
    status = tokenized["status"]
    counts = {s: status.count(s) for s in STATUSES}
    kept = tokenized.filter(lambda s: s != "too_long", input_columns="status", desc="drop")
    if len(kept) == 0:
        raise DartError(f"no training sample fits max_length={max_length} tokens")
    # Column sums, not token lists: a 600K-row release must not come into Python lists.
    tokens = sum(kept["n_tokens"])
    response_tokens = tokens - sum(kept["n_prompt_tokens"])
    kept = kept.remove_columns(["status", "n_tokens", "n_prompt_tokens"])
    if packing:
        train = kept.map(
            pack_batch,
            batched=True,
            batch_size=packing_chunk,
            remove_columns=kept.column_names,
            fn_kwargs={"max_length": max_length, "version": PACK_VERSION},
            desc="pack",
        )
    else:
        train = kept
    stats = {
        "samples": len(ds),
        "status": counts,
        "sequences": len(train),
        "tokens": tokens,
        "response_tokens": response_tokens,
        "fill": round(tokens / (len(train) * max_length), 4),
    }
    return train, stats


@dataclass(frozen=True)
class PackedCollator:
    """Turn tokenized rows into a model batch.

    Packed rows (with `position_ids`) are flattened into one row with no attention mask, so
    restarting positions mark the sample boundaries (flash-attention varlen, or transformers'
    block-diagonal mask for sdpa/eager). Unpacked rows are right-padded with an attention
    mask and -100 labels over the padding.

    Attributes:
        pad_token_id: Token used for padding (never trained on).
    """

    pad_token_id: int

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        if "position_ids" in features[0]:
            return {
                key: torch.tensor([[x for f in features for x in f[key]]], dtype=torch.long)
                for key in ("input_ids", "labels", "position_ids")
            }
        width = max(len(f["input_ids"]) for f in features)
        batch: dict[str, list[list[int]]] = {"input_ids": [], "labels": [], "attention_mask": []}
        for f in features:
            pad = width - len(f["input_ids"])
            batch["input_ids"].append(list(f["input_ids"]) + [self.pad_token_id] * pad)
            batch["labels"].append(list(f["labels"]) + [-100] * pad)
            batch["attention_mask"].append([1] * len(f["input_ids"]) + [0] * pad)
        return {k: torch.tensor(v, dtype=torch.long) for k, v in batch.items()}
