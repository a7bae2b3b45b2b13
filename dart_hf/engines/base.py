"""The one small interface every generation backend implements.

Engines know nothing of DARS, grading or datasets: they turn prompts into completions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from dart_hf.errors import DartError


@dataclass(frozen=True)
class Completion:
    """One generated completion.

    Attributes:
        text: The generated text, without the prompt and without the stop string.
        finish_reason: "stop" (EOS or a stop string) or "length" (cut at max_tokens); any
            other value (e.g. "error") marks a sample that failed: it is not graded.
        n_tokens: Number of generated tokens, as the model's tokenizer counts them.
        error: Why the sample failed (one line, no secrets); None for a completion.
    """

    text: str
    finish_reason: str
    n_tokens: int
    error: str | None = None


@dataclass(frozen=True)
class GenerationParams:
    """Sampling settings for one generate call (all engines honour all of them)."""

    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 512
    stop: tuple[str, ...] = ()
    seed: int = 0


@dataclass(frozen=True)
class Request:
    """One completion to generate: the unit of a round's stream.

    Attributes:
        key: (query id, round, sample_idx), assigned when the request is created; the
            journal and the shard files are keyed by it.
        prompt: The fully rendered prompt.
        params: Sampling settings (`params.n` is ignored: one request is one completion).
        seed: The request's seed for engines that seed per request (scripted, transformers);
            engines seeded per round (vLLM) ignore it.
        index: The completion's position among its query's requests of the same shard
            (the scripted engine draws from (seed, prompt, index)).
    """

    key: tuple[str, int, int]
    prompt: str
    params: GenerationParams
    seed: int = 0
    index: int = 0


@dataclass(frozen=True)
class EngineSpec:
    """Everything needed to build an engine; engines pickle as their spec.

    Attributes:
        backend: Registry key ("vllm", "transformers", "scripted").
        model: Hub id or local folder; None means the embedded SmolLM2-135M-Instruct.
        seed: Base seed of the engine.
        dtype: Weights dtype ("bfloat16", "float32", "auto").
        max_model_len: Context length the engine reserves (prompt + max_tokens must fit).
        options: Backend-specific extras as sorted (key, value) pairs, kept hashable.
        connection: How a served-model engine reaches its servers (a
            `dart_hf.engines.connection.ServerConnection`: URLs, the key's *source*,
            headers, limits); None for in-process engines. It tells the engine apart in
            this process's engine cache but is left out of `to_dict()`, so no record or
            fingerprint holds a URL, a key source or a concurrency.
    """

    backend: str = "vllm"
    model: str | None = None
    seed: int = 0
    dtype: str = "bfloat16"
    max_model_len: int = 4096
    options: tuple[tuple[str, Any], ...] = field(default_factory=tuple)
    connection: Any = field(default=None, repr=False)

    def option(self, key: str, default: Any = None) -> Any:
        """Return a backend-specific option."""
        return dict(self.options).get(key, default)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form for records and cards."""
        d = asdict(self)
        d.pop("connection", None)
        d["options"] = dict(self.options)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EngineSpec:
        """The spec a record holds (`to_dict`'s form, e.g. read back from JSON): options become
        sorted pairs again, with lists as tuples so the spec stays hashable."""

        def frozen(x: Any) -> Any:
            if isinstance(x, list):
                return tuple(frozen(v) for v in x)
            if isinstance(x, dict):
                return tuple(sorted((k, frozen(v)) for k, v in x.items()))
            return x

        fields = {"backend", "model", "seed", "dtype", "max_model_len"}
        options = tuple(sorted((k, frozen(v)) for k, v in (d.get("options") or {}).items()))
        return cls(**{k: v for k, v in d.items() if k in fields}, options=options)


class Engine(Protocol):
    """A built generation backend."""

    spec: EngineSpec

    def generate(
        self, prompts: list[str], params: GenerationParams, n: list[int] | None = None
    ) -> list[list[Completion]]:
        """Return completions for every prompt, in prompt order.

        Args:
            prompts: Fully rendered prompt strings.
            params: Sampling settings; `params.seed` re-seeds the engine before this call.
            n: Completions per prompt (overrides `params.n` prompt by prompt).
        """
        ...

    def provenance(self) -> dict[str, str]:
        """Return engine name, engine version, model id and model folder hash."""
        ...

    def count_tokens(self, text: str) -> int:
        """Number of tokens of `text` under the model's tokenizer (no special tokens)."""
        ...


class StreamingEngine(Protocol):
    """An engine that takes the round's requests one at a time and keeps itself full.

    The sampling stage bridges to it: `complete` is always awaited on the engine's own event
    loop (one per process, in its own thread), never on the caller's, so an engine may hold
    loop-bound objects (an `httpx.AsyncClient`, vLLM's request queues). The stage caps the
    requests in flight (`max_in_flight`, default `default_max_in_flight`).

    Per-sample failures are a `Completion` whose `finish_reason` is neither "stop" nor
    "length" (with `error` set); a failure that must stop the command (a server that died,
    a refused key) raises `EngineFailure`.
    """

    spec: EngineSpec
    default_max_in_flight: int

    async def complete(self, request: Request) -> Completion:
        """Generate one completion."""
        ...

    def provenance(self) -> dict[str, str]:
        """Return engine name, engine version, model id and model folder hash."""
        ...


class EngineFailure(DartError):
    """The engine cannot go on (the command stops with this one-line message; a rerun
    resumes). The message names no secret."""
