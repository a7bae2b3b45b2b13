"""`dart-hf sample`: settings -> query pool -> `sampling.run_sampling` (through an executor).

A command, one layer above the sampling stage: it resolves the settings, checks the engine
and model before any pool or engine work, and picks where sampling runs (this process or Ray).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dart_hf import outputs
from dart_hf.build.run import SETTING_NAMES
from dart_hf.config import (
    BuildConfig,
    SamplingConfig,
    ServerConfig,
    build_dataclass,
    resolve_section,
)
from dart_hf.engines import BACKENDS, check_model
from dart_hf.engines.models import resolve_model
from dart_hf.engines.serve import attach
from dart_hf.errors import DartError, unknown_name
from dart_hf.executors import ExecutorSpec, make_executor
from dart_hf.folders import SamplingFolder
from dart_hf.recipe import load_recipe
from dart_hf.sampling.prompts import get_template
from dart_hf.sampling.shards import check_context
from dart_hf.sources import load_pools

SAMPLE_SETTINGS = (
    "pool",
    "data_dir",
    "limit",
    "model",
    "engine",
    "engine_options",
    "dtype",
    "max_model_len",
    "seed",
    "shard_size",
    "max_in_flight",
    "stream",
)
"""`BuildConfig` fields that `dart-hf sample` reads (with `SamplingConfig`'s)."""


def sample_command(recipe: str | None, out: str | Path, options: dict[str, Any], executor: Any = None) -> str:
    """What `dart-hf sample` does: settings -> pool -> `run_sampling`; returns a summary line.

    Args:
        recipe: Recipe name or YAML path (`--config`), or None.
        out: Output folder.
        options: The command's options (None means "not given"; they override the recipe).
        executor: An `executors.ExecutorSpec` (e.g. Ray); None samples in this process.

    Raises:
        DartError: For a missing pool, unknown engine or template, a model path that does not
            exist, or invalid sampling settings (n < 1, negative temperature, ...).
    """
    # the same settings path as a build's: flat keys, the `build:` mapping, then the flags
    settings = resolve_section(load_recipe(recipe), "build", options, SETTING_NAMES)
    where = f"{recipe} and options" if recipe else "options"
    if not settings.get("pool"):
        raise DartError("no query pool: give --pool NAME_OR_PATH (or `pool:` in the recipe)")
    # the engine, pool and shard settings have the same names, types and checks as a build's
    cfg = build_dataclass(BuildConfig, {k: settings.get(k) for k in SAMPLE_SETTINGS}, where=where)
    if cfg.engine not in BACKENDS:
        raise unknown_name("engine", cfg.engine, BACKENDS)
    sampling = build_dataclass(SamplingConfig, settings, where=where)
    get_template(sampling.template)
    if sampling.max_tokens >= cfg.max_model_len:
        raise DartError(
            f"max_tokens {sampling.max_tokens} leaves no room for the prompt within "
            f"max_model_len {cfg.max_model_len}"
        )
    check_model(cfg.engine, cfg.model)
    if cfg.engine not in ("scripted", "openai"):
        resolve_model(cfg.model)  # a bad model path fails here, before any pool or engine work
    queries = load_pools(cfg.pool, data_dir=cfg.data_dir, limit=cfg.limit)
    if cfg.limit is not None and len(queries) > cfg.limit:
        queries = queries.select(range(cfg.limit))
    server = build_dataclass(ServerConfig, settings, where=where)
    folder = SamplingFolder(Path(out))
    with (
        outputs.folder_lock(folder.path, "sample"),
        outputs.disk_full(folder.path, folder.path),
        attach(cfg.engine_spec(), server, folder.path) as spec,
    ):
        check_context(spec, queries, sampling)
        ds = make_executor(executor or ExecutorSpec()).sample(
            queries,
            folder,
            engine_spec=spec,
            sampling=sampling,
            round=0,
            seed=cfg.seed,
            shard_size=cfg.shard_size,
            progress=True,
            stream=cfg.stream_config(),
        )
    cut = sum(1 for r in ds["finish_reason"] if r == "length")
    tokens = int(sum(ds["n_tokens"]))
    return (
        f"{len(ds)} completions for {len(queries)} queries, {tokens} tokens "
        f"({cut} cut at max_tokens) in {out}"
    )
