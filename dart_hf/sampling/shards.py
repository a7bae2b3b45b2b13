"""Sampling stage: query rows in, one row per completion out; sharded and resumable.

`sample_batch` is the stage (a batched `Dataset.map` function; everything that changes its
output arrives through `fn_kwargs`). `run_sampling` runs it shard by shard and writes
`shard-00000.parquet`, ... as it goes (temp file, then atomic rename), so `kill -9` and the
same call again regenerate nothing that was finished. Shard k always covers query rows
`[k * shard_size, (k + 1) * shard_size)` and is sampled with a seed derived from
(seed, round, k), so samples differ across shards and rounds.

Reproducibility: the transformers engine gives identical text for the same seed (same machine
and batch size). vLLM is re-seeded per shard, but on CPU the same seed gave identical text in
only 3 of 5 runs, so vLLM runs compare by keys (id, round, sample_idx) and invariants.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

from datasets import Dataset, Features, Value

from dart_hf import outputs
from dart_hf.config import SamplingConfig
from dart_hf.engines import Completion, EngineSpec, GenerationParams, backend_class, get_engine
from dart_hf.engines.base import Request
from dart_hf.errors import DartError
from dart_hf.folders import SamplingFolder, n_shards
from dart_hf.logs import progress_bar as tqdm
from dart_hf.sampling.fewshot import get_exemplars
from dart_hf.sampling.journal import Journal
from dart_hf.sampling.prompts import get_template, render_prompt
from dart_hf.sampling.stream import get_streamer

logger = logging.getLogger(__name__)

# Bump whenever the stage's output changes for the same inputs (datasets hashes the function
# by reference, so an edited body alone does not invalidate caches).
SAMPLE_VERSION = "1"
DEFAULT_SHARD_SIZE = 64

SAMPLE_FEATURES = Features(
    {
        "sample_idx": Value("int64"),
        "round": Value("int32"),
        "response": Value("string"),
        "finish_reason": Value("string"),
        "n_tokens": Value("int32"),
        "temperature": Value("float64"),
        "top_p": Value("float64"),
        "max_tokens": Value("int32"),
        "template": Value("string"),
        "engine": Value("string"),
        "engine_version": Value("string"),
        "model": Value("string"),
        "model_hash": Value("string"),
    }
)
SAMPLE_COLUMNS = list(SAMPLE_FEATURES)


def shard_seed(seed: int, round: int, shard: int) -> int:
    """The engine seed of one shard: a stable 31-bit hash of (seed, round, shard)."""
    digest = hashlib.sha256(f"{seed}:{round}:{shard}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def check_context(spec: EngineSpec, queries: Dataset, sampling: SamplingConfig) -> None:
    """Refuse, before any sampling, prompts that cannot fit a served model's context with
    `max_tokens` (an engine that knows its server's `max_model_len` checks; others do not)."""
    if spec.connection is None or not hasattr(backend_class(spec.backend), "check_context"):
        return  # an in-process engine is not built for this (a finished run needs none)
    engine = get_engine(spec)
    check = engine.check_context  # type: ignore[attr-defined]
    prompts = render_prompts(queries[:], sampling, getattr(engine, "tokenizer", None))
    check(prompts, sampling.max_tokens)


def render_prompts(batch: dict[str, list], sampling: SamplingConfig, tokenizer: Any) -> list[str]:
    """The prompt of every query row of a batch (template, few-shot exemplars)."""
    return _prompts(batch, sampling, tokenizer)


def _prompts(batch: dict[str, list], sampling: SamplingConfig, tokenizer: Any) -> list[str]:
    template = get_template(sampling.template)
    shots = sampling.n_shots if template.few_shot else 0
    if sampling.n_shots and not template.few_shot:
        raise DartError(f"template {sampling.template!r} is zero-shot; n_shots must be 0")
    sources = batch.get("source") or [None] * len(batch["query"])
    out = []
    for query, source in zip(batch["query"], sources, strict=True):
        exemplars: tuple[tuple[str, str], ...] = ()
        if shots:
            if source is None:
                raise DartError("few-shot prompts need a `source` column to pick exemplars")
            exemplars = get_exemplars(source, shots)
        out.append(render_prompt(sampling.template, query, tokenizer=tokenizer, exemplars=exemplars))
    return out


def sample_batch(
    batch: dict[str, list],
    *,
    engine_spec: EngineSpec,
    sampling: SamplingConfig,
    round: int,
    seed: int,
    shard: int = 0,
    version: str = SAMPLE_VERSION,
) -> dict[str, list]:
    """Sample completions for a batch of query rows (a batched `Dataset.map` function).

    Args:
        batch: Query rows (normalised source schema), optionally with int columns
            `n_samples` (completions for that row; default `sampling.n`) and `sample_offset`
            (first `sample_idx`; default 0) set by the DARS scheduler.
        engine_spec: The engine to use (built once per process).
        sampling: Sampling settings and prompt template.
        round: Round number, recorded in the output.
        seed: Base seed; the engine is seeded with `shard_seed(seed, round, shard)`.
        shard: Shard number (set by `run_sampling`).
        version: Stage version (for datasets' fingerprints).

    Returns:
        One row per completion: the query columns passed through, then `SAMPLE_COLUMNS`.
    """
    rows = len(batch["query"])
    counts = [int(k) for k in batch.get("n_samples") or [sampling.n] * rows]
    offsets = [int(k) for k in batch.get("sample_offset") or [0] * rows]
    if any(k < 0 for k in counts):
        raise DartError("n_samples must be >= 0 in every row")
    engine = get_engine(engine_spec)
    prompts = _prompts(batch, sampling, getattr(engine, "tokenizer", None))
    params = GenerationParams(
        n=sampling.n,
        temperature=sampling.temperature,
        top_p=sampling.top_p,
        max_tokens=sampling.max_tokens,
        stop=get_template(sampling.template).stop,
        seed=shard_seed(seed, round, shard),
    )
    completions = engine.generate(prompts, params, n=counts) if rows else []
    return completion_rows(batch, offsets, completions, round, sampling, engine.provenance())


def completion_rows(
    batch: dict[str, list],
    offsets: list[int],
    completions: list[list[Completion]],
    round: int,
    sampling: SamplingConfig,
    prov: dict[str, str],
) -> dict[str, list]:
    """One row per completion: the query row's columns, then `SAMPLE_COLUMNS`, in query
    order and, within a query, in `sample_idx` order (`offsets[i]` + position)."""
    out: dict[str, list] = {col: [] for col in batch}
    out.update({col: [] for col in SAMPLE_COLUMNS})
    for i, comps in enumerate(completions):
        for j, comp in enumerate(comps):
            for col in batch:
                out[col].append(batch[col][i])
            out["sample_idx"].append(offsets[i] + j)
            out["round"].append(round)
            out["response"].append(comp.text)
            out["finish_reason"].append(comp.finish_reason)
            out["n_tokens"].append(comp.n_tokens)
            out["temperature"].append(sampling.temperature)
            out["top_p"].append(sampling.top_p)
            out["max_tokens"].append(sampling.max_tokens)
            out["template"].append(sampling.template)
            for key in ("engine", "engine_version", "model", "model_hash"):
                out[key].append(prov[key])
    return out


# --------------------------------------------------------------------------- the stream


@dataclasses.dataclass
class Hooks:
    """What a running round wants to hear about, per sampling folder, in this process.

    Attributes:
        on_completion: Called on the stream's loop with each completion as it arrives
            (the progress bar).
        on_shard: Called with (shard, its `shards.jsonl` line) once a shard file is
            written (the grading of finished shards while the rest generate).
    """

    on_completion: Callable[[Completion], None] | None = None
    on_shard: Callable[[int, dict[str, Any]], None] | None = None


_HOOKS: dict[str, Hooks] = {}


@contextlib.contextmanager
def hooks(folder: SamplingFolder, value: Hooks) -> Iterator[None]:
    """Register a round's hooks for the folder while the block runs."""
    key = str(folder.path.resolve())
    _HOOKS[key] = value
    try:
        yield
    finally:
        _HOOKS.pop(key, None)


def _hooks_of(folder: SamplingFolder) -> Hooks:
    return _HOOKS.get(str(folder.path.resolve())) or Hooks()


def write_shard(
    folder: SamplingFolder, k: int, rows: dict[str, list], features: Features, wall_s: float
) -> dict[str, Any]:
    """Write shard k's rows (temp name, then atomic rename) and its `shards.jsonl` line."""
    path = folder.shard(k)
    samples = Dataset.from_dict(rows, features=features)
    tmp = folder.shard_temp(k, os.getpid())
    with outputs.disk_full(path, tmp):
        samples.to_parquet(str(tmp))
        os.replace(tmp, path)
    line = {
        "shard": k,
        "completions": len(samples),
        "tokens": int(sum(rows["n_tokens"])),
        "wall_s": float(f"{wall_s:.3f}"),
        "pid": os.getpid(),
    }
    with outputs.disk_full(folder.shard_log), open(folder.shard_log, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(line) + "\n")
    return line


SHARD_COLUMN = "_shard"
"""The shard of each query row, added for the streamed map (batches are whole shards)."""


async def stream_shard(
    batch: dict[str, list],
    *,
    engine_spec: EngineSpec,
    sampling: SamplingConfig,
    round: int,
    seed: int,
    folder: str,
    features: Features,
    max_in_flight: int | None = None,
    version: str = SAMPLE_VERSION,
) -> dict[str, list]:
    """Stream one shard's requests to the engine (an async batched `Dataset.map` function).

    Each batch is one whole shard (`SHARD_COLUMN`). One request per (query, sample_idx),
    keyed when it is created; the completions already in the shard's journal are not sent
    again; every new completion is journaled as it arrives. Once the shard is complete its
    file is written from the journal (the same rows, in the same order, as `sample_batch`
    gives) and the journal removed. This is the sampling stage's one place of I/O.

    Returns:
        The shard's `shards.jsonl` line, as one row.
    """
    import asyncio

    t0 = time.perf_counter()
    out = SamplingFolder(Path(folder))
    k = int(batch[SHARD_COLUMN][0])
    if any(int(x) != k for x in batch[SHARD_COLUMN]):
        raise DartError(f"{out.path}: a streamed batch spans shards")
    query_cols = {c: v for c, v in batch.items() if c != SHARD_COLUMN}
    rows = len(query_cols["query"])
    counts = [int(x) for x in query_cols.get("n_samples") or [sampling.n] * rows]
    offsets = [int(x) for x in query_cols.get("sample_offset") or [0] * rows]
    if any(x < 0 for x in counts):
        raise DartError("n_samples must be >= 0 in every row")
    streamer = get_streamer(engine_spec, max_in_flight)
    engine = streamer.engine
    prompts = _prompts(query_cols, sampling, getattr(engine, "tokenizer", None))
    params = GenerationParams(
        n=1,
        temperature=sampling.temperature,
        top_p=sampling.top_p,
        max_tokens=sampling.max_tokens,
        stop=get_template(sampling.template).stop,
        seed=shard_seed(seed, round, k),
    )
    journal = Journal(out.journal(k))
    done = journal.read()
    hook = _hooks_of(out)
    ids = [str(x) for x in query_cols["id"]]

    async def one(request: Request) -> None:
        comp = await streamer.complete(request)
        journal.write(request.key, comp)
        done[request.key] = comp
        if hook.on_completion is not None:
            hook.on_completion(comp)

    requests = [
        Request((ids[i], round, offsets[i] + j), prompts[i], params, params.seed, j)
        for i in range(rows)
        for j in range(counts[i])
        if (ids[i], round, offsets[i] + j) not in done
    ]
    try:
        await asyncio.gather(*(one(r) for r in requests))
    finally:
        journal.close()
    completions = [[done[(ids[i], round, offsets[i] + j)] for j in range(counts[i])] for i in range(rows)]
    shard_rows = completion_rows(query_cols, offsets, completions, round, sampling, engine.provenance())
    line = write_shard(out, k, shard_rows, features, time.perf_counter() - t0)
    journal.remove()
    if hook.on_shard is not None:
        hook.on_shard(k, line)
    return {key: [value] for key, value in line.items() if key != "pid"}


def stream_one_shard(
    part: Dataset,
    folder: SamplingFolder,
    k: int,
    max_in_flight: int | None,
    *,
    engine_spec: EngineSpec,
    sampling: SamplingConfig,
    round: int,
    seed: int,
    shard_size: int = DEFAULT_SHARD_SIZE,
) -> dict[str, Any]:
    """Stream one shard's requests on this thread's own event loop (a Ray engine actor runs
    many such calls at once, all feeding its engine); returns its `shards.jsonl` line."""
    import asyncio

    del shard_size  # the shard is `part`
    if folder.shard(k).is_file():
        return {"shard": k, "completions": 0, "tokens": 0, "skipped": True}
    batch = part.to_dict()
    batch[SHARD_COLUMN] = [k] * len(part)
    streamer = get_streamer(engine_spec, max_in_flight)
    with streamer.round(shard_seed(seed, round, 0)):
        row = asyncio.run(
            stream_shard(
                batch,
                engine_spec=engine_spec,
                sampling=sampling,
                round=round,
                seed=seed,
                folder=str(folder.path),
                features=Features({**part.features, **SAMPLE_FEATURES}),
                max_in_flight=max_in_flight,
            )
        )
    return {key: value[0] for key, value in row.items()} | {"pid": os.getpid()}


def streams(spec: EngineSpec) -> bool:
    """Whether this process's engine for `spec` takes requests one at a time (`complete`);
    builds it when needed (call it only when there is something to sample)."""
    return callable(getattr(get_engine(spec), "complete", None))


def _queries_hash(queries: Dataset) -> str:
    """Content hash of what fixes the shards: every query column (the shards carry them all,
    gold answers included) and the scheduler columns."""
    return outputs.content_hash(queries)


def _check_manifest(folder: SamplingFolder, settings: dict[str, Any]) -> None:
    outputs.check_fingerprint(
        folder.manifest,
        settings,
        what="shards",
        has_work=folder.has_shards,
        folder=folder.path,
    )


@contextlib.contextmanager
def _quiet_datasets_bars() -> Iterator[None]:
    """Hide datasets' own per-map bars while our bar runs."""
    import datasets

    was_disabled = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if not was_disabled:
            datasets.enable_progress_bars()


def as_folder(folder: SamplingFolder | str | Path) -> SamplingFolder:
    """A sampling folder from its path (or itself)."""
    return folder if isinstance(folder, SamplingFolder) else SamplingFolder(Path(folder))


@dataclasses.dataclass(frozen=True)
class SamplingPlan:
    """The shards of one sampling run: fixed by the query rows and `shard_size` alone.

    Attributes:
        folder: The sampling folder.
        n_shards: Number of shards.
        shard_size: Query rows per shard.
        todo: Shards whose file does not exist yet.
        per_shard: Completions each shard yields.
        features: Features of the sample rows.
    """

    folder: SamplingFolder
    n_shards: int
    shard_size: int
    todo: tuple[int, ...]
    per_shard: tuple[int, ...]
    features: Features

    @property
    def out(self) -> Path:
        """The folder's path."""
        return self.folder.path

    def shard_range(self, k: int, rows: int) -> range:
        """The query row positions of shard k (of `rows` in all)."""
        return range(k * self.shard_size, min((k + 1) * self.shard_size, rows))

    def shard_rows(self, queries: Dataset, k: int) -> Dataset:
        """The query rows of shard k."""
        return queries.select(self.shard_range(k, len(queries)))


def plan_sampling(
    queries: Dataset,
    folder: SamplingFolder | str | Path,
    *,
    sampling: SamplingConfig,
    shard_size: int = DEFAULT_SHARD_SIZE,
) -> SamplingPlan:
    """The shards of a run and those still missing, read from the folder (writes nothing)."""
    if shard_size < 1:
        raise DartError(f"shard_size must be >= 1, got {shard_size}")
    if "query" not in queries.column_names:
        raise DartError(f"queries need a 'query' column; found: {', '.join(queries.column_names)}")
    folder = as_folder(folder)
    count = n_shards(len(queries), shard_size)
    counts = queries["n_samples"] if "n_samples" in queries.column_names else [sampling.n] * len(queries)
    per_shard = tuple(sum(counts[k * shard_size : (k + 1) * shard_size]) for k in range(count))
    return SamplingPlan(
        folder=folder,
        n_shards=count,
        shard_size=shard_size,
        todo=tuple(folder.missing(count)),
        per_shard=per_shard,
        features=Features({**queries.features, **SAMPLE_FEATURES}),
    )


def seeding_of(spec: EngineSpec) -> str:
    """How an engine is seeded: "per round" (reseeded as a round's stream opens, vLLM) or
    "per request" (each request carries its shard's seed: scripted, transformers)."""
    cls = backend_class(spec.backend)
    by_spec = getattr(cls, "seeding_of_spec", None)  # engines whose seeding is an option
    if by_spec is not None:
        return str(by_spec(spec))
    return str(getattr(cls, "seeding", "per request"))


def open_sampling(
    queries: Dataset,
    folder: SamplingFolder | str | Path,
    *,
    engine_spec: EngineSpec,
    sampling: SamplingConfig,
    round: int = 0,
    seed: int = 0,
    shard_size: int = DEFAULT_SHARD_SIZE,
) -> SamplingPlan:
    """Check (or write) the folder's manifest, clear what a killed run left, and plan.

    Refuses a folder whose shards were made with other settings (`outputs.check_fingerprint`).
    """
    plan = plan_sampling(queries, folder, sampling=sampling, shard_size=shard_size)
    plan.out.mkdir(parents=True, exist_ok=True)
    _check_manifest(
        plan.folder,
        json.loads(
            json.dumps(
                {
                    "version": SAMPLE_VERSION,
                    "engine": engine_spec.to_dict(),
                    "seeding": seeding_of(engine_spec),
                    "sampling": dataclasses.asdict(sampling),
                    "round": round,
                    "seed": seed,
                    "shard_size": shard_size,
                    "queries": len(queries),
                    "queries_hash": _queries_hash(queries),
                },
                default=str,
            )
        ),
    )
    for stale in plan.folder.stale_temps():  # left by a killed run
        stale.unlink(missing_ok=True)
    todo = set(plan.todo)
    _log_unlogged_shards(plan.folder, [k for k in range(plan.n_shards) if k not in todo])
    return plan


def _logged_shards(folder: SamplingFolder) -> set[int]:
    """Shards that `shards.jsonl` has a line for (a line cut short by a kill is not one)."""
    log = folder.shard_log
    done: set[int] = set()
    if log.is_file():
        for line in filter(str.strip, log.read_text(encoding="utf-8").splitlines()):
            with contextlib.suppress(json.JSONDecodeError, KeyError, TypeError, ValueError):
                done.add(int(json.loads(line)["shard"]))
    return done


def _log_unlogged_shards(folder: SamplingFolder, finished: list[int]) -> None:
    """Give a finished shard whose log line a kill prevented (the file is renamed in before
    the line is written) its line, read from the file, so the totals count it once."""
    log = folder.shard_log
    if log.is_file() and log.stat().st_size:
        with open(log, "rb") as fh:
            fh.seek(-1, os.SEEK_END)
            cut = fh.read(1) != b"\n"
        if cut:  # a line cut short by a kill: end it, so the next line starts on its own
            with outputs.disk_full(log), open(log, "a", encoding="utf-8") as fh:
                fh.write("\n")
    missing = sorted(set(finished) - _logged_shards(folder)) if finished else []
    if not missing:
        return
    import pyarrow.parquet as pq

    with outputs.disk_full(log), open(log, "a", encoding="utf-8") as fh:
        for k in missing:
            tokens = pq.read_table(folder.shard(k), columns=["n_tokens"])["n_tokens"]
            line = {
                "shard": k,
                "completions": len(tokens),
                "tokens": int(sum(tokens.to_pylist())),
                "wall_s": 0.0,
                "pid": None,
                "recovered": True,
            }
            fh.write(json.dumps(line) + "\n")


def sample_shard(
    part: Dataset,
    folder: SamplingFolder | str | Path,
    k: int,
    *,
    engine_spec: EngineSpec,
    sampling: SamplingConfig,
    round: int,
    seed: int,
    shard_size: int = DEFAULT_SHARD_SIZE,
) -> dict[str, Any]:
    """Sample the query rows of shard k in one blocking engine call and write its file
    (temp name, then atomic rename): the shard-by-shard path, for engines that keep their
    batches (transformers) and for `stream: false`.

    A shard whose file exists is left untouched (a retried task after a lost worker writes
    nothing twice). Returns the shard's line of `shards.jsonl` (completions, tokens, time).
    """
    folder = as_folder(folder)
    if folder.shard(k).is_file():
        return {"shard": k, "completions": 0, "tokens": 0, "skipped": True}
    t_shard = time.perf_counter()
    features = Features({**part.features, **SAMPLE_FEATURES})
    samples = part.map(
        sample_batch,
        batched=True,
        batch_size=None,
        keep_in_memory=True,
        load_from_cache_file=False,
        remove_columns=part.column_names,
        features=features,
        fn_kwargs={
            "engine_spec": engine_spec,
            "sampling": sampling,
            "round": round,
            "seed": seed,
            "shard": k,
            "version": SAMPLE_VERSION,
        },
    )
    line = write_shard(folder, k, samples.to_dict(), features, time.perf_counter() - t_shard)
    hook = _hooks_of(folder)
    if hook.on_shard is not None:
        hook.on_shard(k, line)
    return line


def generation_totals(folders: list[SamplingFolder] | list[Path]) -> dict[str, Any]:
    """What `shards.jsonl` of these sampling folders records, summed over every run.

    A resumed job's own wall time covers only its last invocation; these totals count every
    shard once, whichever process generated it. A line cut short by a killed run is skipped
    (the totals are a report; the shard files are what resuming trusts).

    Returns:
        `shards`, `completions`, `tokens`, `wall_s` (generation time summed over shards),
        `tokens_per_s` and `processes` (distinct pids that generated shards, i.e. invocations).
    """
    lines = []
    for folder in folders:
        log = as_folder(folder).shard_log
        if log.is_file():
            with open(log, encoding="utf-8") as fh:
                for line in filter(str.strip, fh):
                    try:
                        lines.append(json.loads(line))
                    except json.JSONDecodeError:  # a line cut short by a killed run
                        logger.warning("%s: skipped an unreadable line", log)
    generated = [line for line in lines if not line.get("skipped")]
    wall = sum(float(line.get("wall_s", 0.0)) for line in generated)
    tokens = sum(int(line.get("tokens", 0)) for line in generated)
    return {
        "shards": len(generated),
        "completions": sum(int(line.get("completions", 0)) for line in generated),
        "tokens": tokens,
        "wall_s": round(wall, 1),
        "tokens_per_s": round(tokens / wall, 1) if wall else None,
        "processes": len({line["pid"] for line in generated if line.get("pid") is not None}),
    }


def run_sampling(
    queries: Dataset,
    out_dir: SamplingFolder | str | Path,
    *,
    engine_spec: EngineSpec,
    sampling: SamplingConfig,
    round: int = 0,
    seed: int = 0,
    shard_size: int = DEFAULT_SHARD_SIZE,
    progress: bool = True,
    max_in_flight: int | None = None,
    stream: bool = True,
    on_shard: Callable[[int, dict[str, Any]], None] | None = None,
    figures: dict[str, Any] | None = None,
) -> Dataset:
    """Sample every query into shard files, resuming finished shards and journaled requests.

    An engine that takes requests one at a time (`streams`) gets the whole round as one
    stream (`stream_shard` over every unfinished shard in one `Dataset.map`, at most
    `max_in_flight` requests in flight); one that keeps its batches (transformers), or any
    engine with `stream=False`, gets one blocking call per shard (`sample_shard`).

    Args:
        queries: Query rows (see `sample_batch`).
        out_dir: Folder for `shard-XXXXX.parquet`, `sampling.json` (the settings; a rerun with
            other settings is refused), `shards.jsonl` (one line per shard generated, with
            its completions and tokens: a resumed run adds lines only for new shards) and,
            while a shard is streamed, its journal.
        engine_spec: The engine to use; it is built only when a shard is left to sample.
        sampling: Sampling settings.
        round: Round number.
        seed: Base seed (shard k's requests carry `shard_seed(seed, round, k)`; an engine
            seeded per round gets `shard_seed(seed, round, 0)` when the stream opens).
        shard_size: Query rows per shard; shard boundaries depend only on this and the rows.
        progress: Show a tqdm bar with completions/s and tokens/s.
        max_in_flight: Requests in flight at most (None: the engine's default).
        stream: Stream the round (False: one blocking call per shard, the old path).
        on_shard: Called with (shard, its log line) once each shard file is written.
        figures: Filled with what the stream measured (`stream.StreamFigures` fields).

    Returns:
        All samples, shard after shard, as one dataset.
    """
    plan = open_sampling(
        queries,
        out_dir,
        engine_spec=engine_spec,
        sampling=sampling,
        round=round,
        seed=seed,
        shard_size=shard_size,
    )
    if plan.todo:
        logger.info("%s: %d of %d shards to sample", plan.out, len(plan.todo), plan.n_shards)
    # the engine starts (if it must) before the bar opens: a Ctrl-C while it starts then
    # ends on click's "Aborted!", not on the bar drawn again as it is collected
    streamed = bool(plan.todo) and stream and streams(engine_spec)
    todo = set(plan.todo)
    journaled = sum(_journal_lines(plan.folder.journal(k)) for k in plan.todo)
    bar = tqdm(
        total=sum(plan.per_shard),
        initial=sum(n for k, n in enumerate(plan.per_shard) if k not in todo) + journaled,
        unit="compl",
        desc=f"sampling round {round}",
        disable=not progress or not plan.todo,
        dynamic_ncols=True,
    )
    t0, tokens = time.perf_counter(), 0

    def completed(comp: Completion) -> None:
        nonlocal tokens
        tokens += comp.n_tokens
        bar.update(1)
        bar.set_postfix_str(f"{tokens / max(time.perf_counter() - t0, 1e-9):.1f} tok/s")

    def shard_done(k: int, line: dict[str, Any]) -> None:
        nonlocal tokens
        if not streamed:
            tokens += line["tokens"]
            bar.update(line["completions"])
            bar.set_postfix_str(f"{tokens / max(time.perf_counter() - t0, 1e-9):.1f} tok/s")
        if on_shard is not None:
            on_shard(k, line)

    with bar, _quiet_datasets_bars(), hooks(plan.folder, Hooks(completed, shard_done)):
        if streamed:
            _stream_round(queries, plan, engine_spec, sampling, round, seed, max_in_flight, figures)
        else:
            for k in plan.todo:
                sample_shard(
                    plan.shard_rows(queries, k),
                    plan.folder,
                    k,
                    engine_spec=engine_spec,
                    sampling=sampling,
                    round=round,
                    seed=seed,
                    shard_size=shard_size,
                )
    return load_samples(plan.folder, plan.n_shards, plan.features)


def _journal_lines(path: Path) -> int:
    if not path.is_file():
        return 0
    with open(path, "rb") as fh:
        return sum(1 for line in fh if line.endswith(b"\n"))


def _stream_round(
    queries: Dataset,
    plan: SamplingPlan,
    engine_spec: EngineSpec,
    sampling: SamplingConfig,
    round: int,
    seed: int,
    max_in_flight: int | None,
    figures: dict[str, Any] | None,
) -> None:
    """Every unfinished shard of the round as one stream (one `Dataset.map` of
    `stream_shard`, each batch one shard, every shard in flight at once)."""
    rows = [i for k in plan.todo for i in plan.shard_range(k, len(queries))]
    part = queries.select(rows).add_column(SHARD_COLUMN, [i // plan.shard_size for i in rows])
    streamer = get_streamer(engine_spec, max_in_flight)
    with streamer.round(shard_seed(seed, round, 0)) as measured:
        part.map(
            stream_shard,
            batched=True,
            batch_size=plan.shard_size,
            keep_in_memory=True,
            load_from_cache_file=False,
            remove_columns=part.column_names,
            fn_kwargs={
                "engine_spec": engine_spec,
                "sampling": sampling,
                "round": round,
                "seed": seed,
                "folder": str(plan.out),
                "features": plan.features,
                "max_in_flight": max_in_flight,
                "version": SAMPLE_VERSION,
            },
        )
    if figures is not None:
        figures.update(dataclasses.asdict(measured))


def load_samples(
    folder: SamplingFolder | str | Path,
    count: int,
    features: Features | None = None,
    remedy: str = outputs.REDO,
) -> Dataset:
    """Concatenate shards 0..count-1 of a folder (memory-mapped Arrow, no copies kept); a
    damaged shard is named with `remedy`."""
    folder = as_folder(folder)
    out = folder.path
    files = [folder.shard(k) for k in range(count)]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise DartError(f"{out}: missing shards {', '.join(missing[:3])}")
    import pyarrow.parquet as pq

    full = []
    for f in files:
        with outputs.damaged(f, remedy):
            meta = pq.read_metadata(f)
        if meta.num_rows > 0:
            full.append(str(f))
    if features is None:
        features = Features.from_arrow_schema(pq.read_schema(files[0])) if files else None
        features = features or SAMPLE_FEATURES
    if not full:  # the parquet builder refuses a split with no rows
        return Dataset.from_dict({k: [] for k in features}, features=features)
    with outputs.damaged(out, f"a shard in it is damaged: {remedy}"):
        return cast(Dataset, Dataset.from_parquet(full, features=features))
