"""transformers engine: batched `generate`, the fallback that runs anywhere.

For the embedded model it loads the converted safetensors folder by default: measured here,
0.5-1.6 s against ~20 s for `from_pretrained(..., gguf_file=...)` (the GGUF is dequantized on
every load). Option `from_gguf=True` loads the GGUF directly instead (no cache folder needed).

Deterministic: `torch.manual_seed(params.seed)` before every call and a fixed batching order
make the same call give the same text on the same machine.

Options (`EngineSpec.options`): `batch_size` (sequences per `generate`, default 16),
`from_gguf` (bool), `device` ("cpu", "cuda", ...; default: cuda when available),
`num_threads` (torch CPU threads during `generate`, restored after; on this shared, busy
machine 1 thread ran ~10x faster than 2 because OpenMP threads spin against other processes).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from dart_hf.engines.base import Completion, EngineSpec, GenerationParams
from dart_hf.engines.models import resolve_model
from dart_hf.errors import DartError, missing_package

logger = logging.getLogger(__name__)

HF_PIP = "pip install transformers accelerate gguf torch"


class TransformersEngine:
    """Generation with transformers' batched `generate` (left padding)."""

    name = "transformers"
    seeding = "per request"
    """Each shard's one blocking call is seeded with the shard's seed, which its requests
    carry (the engine keeps its batches: it does not stream)."""
    OPTIONS = frozenset({"batch_size", "from_gguf", "device", "num_threads"})
    """The options this engine reads (others are refused before it starts)."""

    def __init__(self, spec: EngineSpec) -> None:
        """Resolve the model and load it with its tokenizer.

        Args:
            spec: Engine settings; `spec.model` None means the embedded model.
        """
        self.spec = spec
        try:
            import torch
            import transformers
        except ImportError:
            raise missing_package("transformers", HF_PIP, "the transformers engine") from None
        self._torch = torch
        self._version = transformers.__version__
        self.model_info = resolve_model(spec.model)
        self.batch_size = int(spec.option("batch_size", 16))
        if self.batch_size < 1:
            raise DartError(f"batch_size must be >= 1, got {self.batch_size}")
        self.num_threads = int(spec.option("num_threads") or 0)
        device = spec.option("device") or ("cuda" if torch.cuda.is_available() else "cpu")
        load: dict[str, Any] = {}
        folder = self.model_info.path
        if spec.option("from_gguf", False) and self.model_info.gguf_file:
            gguf = Path(self.model_info.gguf_file)
            folder, load["gguf_file"] = str(gguf.parent), gguf.name
        dtype = None if spec.dtype == "auto" else getattr(torch, spec.dtype, None)
        if spec.dtype != "auto" and dtype is None:
            raise DartError(f"unknown dtype {spec.dtype!r} for the transformers engine")
        logger.info("loading %s with transformers %s", folder, self._version)
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(folder, **load)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = transformers.AutoModelForCausalLM.from_pretrained(
            folder, dtype=dtype or "auto", **load
        ).to(device)
        self.model.eval()
        self.device = device
        eos = self.model.generation_config.eos_token_id
        eos_ids = eos if isinstance(eos, list) else [eos]
        self.eos_ids = {int(e) for e in eos_ids if e is not None}
        if self.tokenizer.eos_token_id is not None:
            self.eos_ids.add(int(self.tokenizer.eos_token_id))

    def _finish(self, ids: list[int], stop: tuple[str, ...], max_tokens: int) -> Completion:
        """Turn one row of generated ids into a Completion (trim EOS, padding and stop)."""
        end = next((j for j, t in enumerate(ids) if t in self.eos_ids), None)
        body = ids if end is None else ids[:end]
        text = self.tokenizer.decode(body, skip_special_tokens=True)
        hits = [p for p in (text.find(s) for s in stop) if p >= 0]
        if hits:
            # Generation halted on the stop string, so `body` ends with it (any EOS after it
            # is padding); count the tokens that were generated, like vLLM does.
            return Completion(text=text[: min(hits)], finish_reason="stop", n_tokens=len(body))
        if end is not None:
            return Completion(text=text, finish_reason="stop", n_tokens=end + 1)
        reason = "length" if len(ids) >= max_tokens else "stop"
        return Completion(text=text, finish_reason=reason, n_tokens=len(ids))

    def generate(
        self, prompts: list[str], params: GenerationParams, n: list[int] | None = None
    ) -> list[list[Completion]]:
        """Sample completions for every prompt (see `dart_hf.engines.base.Engine`)."""
        torch = self._torch
        counts = list(n) if n is not None else [params.n] * len(prompts)
        if len(counts) != len(prompts):
            raise ValueError(f"{len(prompts)} prompts but {len(counts)} counts")
        threads = torch.get_num_threads()
        if self.num_threads:
            torch.set_num_threads(self.num_threads)  # for this call only: restored below
        try:
            return self._generate(prompts, params, counts)
        finally:
            torch.set_num_threads(threads)

    def _generate(
        self, prompts: list[str], params: GenerationParams, counts: list[int]
    ) -> list[list[Completion]]:
        torch = self._torch
        jobs = [i for i, k in enumerate(counts) for _ in range(k)]
        out: list[list[Completion]] = [[] for _ in prompts]
        torch.manual_seed(params.seed)
        sample = params.temperature > 0
        extra: dict[str, Any] = (
            {"do_sample": True, "temperature": params.temperature, "top_p": params.top_p}
            if sample
            else {"do_sample": False, "temperature": None, "top_p": None}
        )
        if params.stop:
            extra.update(stop_strings=list(params.stop), tokenizer=self.tokenizer)
        for start in range(0, len(jobs), self.batch_size):
            chunk = jobs[start : start + self.batch_size]
            texts = [prompts[i] for i in chunk]
            bos = self.tokenizer.bos_token
            # Like vLLM: add the tokenizer's BOS unless the rendered prompt (a chat template)
            # already starts with it.
            add = not (bos and all(t.startswith(bos) for t in texts))
            enc = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=add).to(
                self.device
            )
            with torch.inference_mode():
                gen = self.model.generate(
                    **enc,
                    max_new_tokens=params.max_tokens,
                    top_k=0,
                    pad_token_id=self.tokenizer.pad_token_id,
                    **extra,
                )
            new = gen[:, enc["input_ids"].shape[1] :].tolist()
            for i, ids in zip(chunk, new, strict=True):
                out[i].append(self._finish(ids, params.stop, params.max_tokens))
        return out

    def provenance(self) -> dict[str, str]:
        """Engine name and version, model id and folder hash."""
        return {
            "engine": self.name,
            "engine_version": str(self._version),
            "model": self.model_info.model_id,
            "model_hash": self.model_info.model_hash,
        }

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` under the model's tokenizer, without special tokens."""
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def close(self) -> None:
        """Drop the model."""
        self.__dict__.pop("model", None)
