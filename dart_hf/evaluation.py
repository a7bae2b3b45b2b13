"""`dart-hf eval`: the paper's evaluation protocol over the six benchmarks, for any model.

Protocol (DART-Math, section 4): greedy decoding (temperature 0), at most 2048 new tokens,
final-answer accuracy graded by the grading stage (Math-Verify plus per-benchmark gold
handling). Fine-tuned models are run zero-shot with the `alpaca` prompt (the DART models'
protocol); base models few-shot with the `qa` template (4 shots, TheoremQA 5) from the fixed
exemplars in `dart_hf.fewshot`. OlympiadBench queries carry its official instruction. With no
model, the embedded SmolLM2-135M-Instruct runs with `chat` (it is an instruct model).

Seeds: greedy decoding gives the same text for every seed, so several seeds only make sense
with sampling; with more than one seed the recipe's `temperature` (and `top_p`) are used, and
a run asking for several seeds without a temperature > 0 is refused.

Everything below goes through the sampling stage (`run_sampling`, resumable parquet shards under
`DIR/samples/<benchmark>/seed-<s>/`) and the grading stage (`grade_dataset`); a killed run
continues from its last finished shard with the same command.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datasets import Dataset, concatenate_datasets

from dart_hf.errors import DartError, unknown_name
from dart_hf.eval_results import (
    EVAL_BENCHMARKS,
    SIX,
    render_card,
    reported_for,
    results_markdown,
    summarize_predictions,
)
from dart_hf.fewshot import default_shots, exemplar_source, get_exemplars, olympiad_query

logger = logging.getLogger(__name__)

PREP_VERSION = "1"
"""Bump when `prepare_batch` changes what it writes (datasets' cache hashes it by reference)."""

PREDICTION_COLUMNS = (
    "id", "benchmark", "seed", "level", "domain", "query", "response", "pred", "gold",
    "correct", "grade_status", "finish_reason", "n_tokens",
    # gold details the grader reads, kept so a predictions file regrades identically
    "answers", "answer_type", "multi_answer", "unit", "tolerance",
)  # fmt: skip


def default_template(model: str | None) -> str:
    """Template when none is given: `chat` for the embedded instruct model, `deepseekmath` for
    DeepSeekMath-Instruct/RL, else `alpaca` (the DART models' and the paper's default)."""
    if model is None:
        return "chat"
    name = model.lower()
    if "deepseek-math-7b-rl" in name or "deepseek-math-7b-instruct" in name:
        return "deepseekmath"
    return "alpaca"


@dataclass(frozen=True)
class EvalConfig:
    """Settings of an evaluation run (everything that changes its predictions).

    Attributes:
        benchmarks: Benchmark names (see `EVAL_BENCHMARKS`).
        template: Prompt template (see `dart_hf.prompts.TEMPLATES`).
        n_shots: Exemplars per prompt; None means the paper's count (4, TheoremQA 5) for the
            `qa` template (base models) and 0 for the others.
        limit: First N items of each benchmark; None for all.
        seeds: One run per seed.
        temperature: 0 is greedy (the protocol); > 0 only makes sense with several seeds.
        top_p: Nucleus mass when sampling.
        max_tokens: Maximum new tokens; a response cut there counts as wrong (`truncated`).
        data_dir: Folder with `<benchmark>/test.jsonl` (e.g. ../shared/data); None = bundled.
        shard_size: Queries per sampling shard (the unit of resume).
        grade_timeout_s: Hard wall-clock limit per graded item.
        num_proc: Grading worker processes.
    """

    benchmarks: tuple[str, ...] = SIX
    template: str = "chat"
    n_shots: int | None = None
    limit: int | None = None
    seeds: tuple[int, ...] = (0,)
    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 2048
    data_dir: str | None = None
    shard_size: int = 64
    grade_timeout_s: float = 5.0
    num_proc: int = 1

    def __post_init__(self) -> None:
        if not self.benchmarks:
            raise DartError("no benchmark given")
        for name in self.benchmarks:
            if name not in EVAL_BENCHMARKS:
                raise unknown_name("benchmark", name, EVAL_BENCHMARKS)
        if len(set(self.benchmarks)) != len(self.benchmarks):
            raise DartError(f"benchmarks listed twice: {', '.join(self.benchmarks)}")
        if self.limit is not None and self.limit < 1:
            raise DartError(f"--limit must be >= 1 (or left out for all items), got {self.limit}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise DartError(f"seeds must be distinct and at least one, got {list(self.seeds)}")
        if self.temperature < 0:
            raise DartError(f"temperature must be >= 0, got {self.temperature}")
        if len(self.seeds) > 1 and self.temperature == 0:
            raise DartError(
                f"{len(self.seeds)} seeds with greedy decoding would give {len(self.seeds)} "
                "identical runs: give a recipe (--config) with a temperature > 0, or one seed"
            )
        if not 0 < self.top_p <= 1:
            raise DartError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_tokens < 1:
            raise DartError(f"--max-tokens must be >= 1, got {self.max_tokens}")
        if self.n_shots is not None and self.n_shots < 0:
            raise DartError(f"--n-shots must be >= 0, got {self.n_shots}")
        if self.shard_size < 1:
            raise DartError(f"shard_size must be >= 1, got {self.shard_size}")
        from dart_hf.prompts import get_template

        if not get_template(self.template).few_shot and self.n_shots:
            raise DartError(
                f"template {self.template!r} is zero-shot: --n-shots needs a few-shot template (qa)"
            )
        for name in self.benchmarks:
            get_exemplars(name, self.shots_for(name))  # too many shots fails here, early

    def shots_for(self, benchmark: str) -> int:
        """Number of exemplars used for `benchmark`."""
        if self.n_shots is not None:
            return self.n_shots
        return default_shots(benchmark) if self.template == "qa" else 0

    def sampling_dict(self, benchmark: str, seed: int) -> dict[str, Any]:
        """The settings that decide one benchmark/seed's samples (guards resumed shards)."""
        return {
            "benchmark": benchmark,
            "seed": seed,
            "template": self.template,
            "n_shots": self.shots_for(benchmark),
            "limit": self.limit,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "shard_size": self.shard_size,
            "prep_version": PREP_VERSION,
        }


RECIPE_KEYS = frozenset(
    {"model", "engine", "dtype", "template", "temperature", "top_p", "data_dir"}
)
"""Keys `resolve_config` reads from a recipe's top level; everything else goes under `eval:`."""


def _pick(settings: dict[str, Any], key: str, default: Any) -> Any:
    value = settings.get(key)
    return default if value is None else value


def resolve_config(
    recipe: dict[str, Any], overrides: dict[str, Any]
) -> tuple[EvalConfig, dict[str, Any]]:
    """Build the evaluation settings from a recipe and CLI flags (None = not given).

    The recipe may keep evaluation settings flat or under an `eval:` mapping (which wins).
    Outside `eval:` only `RECIPE_KEYS` are read (a build recipe's `max_tokens` or `limit` are
    synthesis settings). Greedy decoding is the default whatever the recipe's synthesis
    temperature; the recipe's `temperature`/`top_p` apply only when several seeds are asked for.

    Returns:
        The EvalConfig, and the engine settings (`engine`, `model`, `dtype`, `max_model_len`).
    """
    section = recipe.get("eval") or {}
    if not isinstance(section, dict):
        raise DartError("recipe: `eval` must be a mapping of settings")
    # A build recipe's other flat keys (limit, max_tokens, shard_size, ...) describe synthesis,
    # not the evaluation protocol, so only these are read outside `eval:`.
    flat = {k: v for k, v in recipe.items() if k in RECIPE_KEYS}
    settings = {**flat, **section, **{k: v for k, v in overrides.items() if v is not None}}
    model = settings.get("model")
    benchmarks = settings.get("benchmarks") or SIX
    if isinstance(benchmarks, str):
        benchmarks = [b.strip() for b in benchmarks.split(",") if b.strip()]
    try:
        seeds = tuple(int(s) for s in _pick(settings, "seeds", (0,)))
        sampled = len(seeds) > 1
        config = EvalConfig(
            benchmarks=tuple(benchmarks),
            template=str(_pick(settings, "template", default_template(model))),
            n_shots=settings.get("n_shots"),
            limit=settings.get("limit"),
            seeds=seeds,
            temperature=float(_pick(settings, "temperature", 0.0)) if sampled else 0.0,
            top_p=float(_pick(settings, "top_p", 1.0)) if sampled else 1.0,
            max_tokens=int(_pick(settings, "max_tokens", 2048)),
            data_dir=settings.get("data_dir"),
            shard_size=int(_pick(settings, "shard_size", 64)),
            grade_timeout_s=float(_pick(settings, "grade_timeout_s", 5.0)),
            num_proc=int(_pick(settings, "num_proc", 1)),
        )
    except (TypeError, ValueError) as exc:
        raise DartError(f"bad evaluation setting: {exc}") from None
    from dart_hf.engines import BACKENDS

    backend = str(_pick(settings, "engine", "vllm"))
    if backend not in BACKENDS:
        raise unknown_name("engine", backend, BACKENDS)
    engine = {
        "engine": backend,
        "model": model,
        "dtype": str(_pick(settings, "dtype", "bfloat16")),
        "max_model_len": int(_pick(settings, "max_model_len", max(4096, config.max_tokens + 2048))),
    }
    return config, engine


# --------------------------------------------------------------------------- stages


def prepare_batch(batch: dict[str, list], *, benchmark: str, version: str = PREP_VERSION) -> dict:
    """Stage: pose each query as the benchmark's protocol does and tag it with its benchmark.

    OlympiadBench queries get the official instruction (answer type, multiple answers, unit)
    before the question; other benchmarks keep the question as it is.

    Args:
        batch: Query rows in the normalised source schema.
        benchmark: The benchmark these rows come from.
        version: Stage version (part of the cache fingerprint).
    """
    del version
    queries = list(batch["query"])
    if benchmark == "olympiadbench":
        n = len(queries)
        types = batch.get("answer_type") or [None] * n
        multi = batch.get("multi_answer") or [False] * n
        units = batch.get("unit") or [None] * n
        queries = [
            olympiad_query(q, t, bool(m), u)
            for q, t, m, u in zip(queries, types, multi, units, strict=True)
        ]
    return {"query": queries, "benchmark": [benchmark] * len(queries)}


def grade_predictions(preds: Dataset, *, timeout_s: float = 5.0, num_proc: int = 1) -> Dataset:
    """Grade (or regrade) a predictions table: new `pred`, `correct`, `grade_status` columns.

    The predictions keep every gold field the grader reads, so regrading a saved predictions
    file gives the verdicts it holds.
    """
    missing = [c for c in ("benchmark", "response", "gold") if c not in preds.column_names]
    if missing:
        found = ", ".join(preds.column_names)
        raise DartError(f"predictions lack column(s) {', '.join(missing)}; found {found}")
    from dart_hf.config import GradeConfig
    from dart_hf.grading import grade_dataset

    old = [c for c in ("pred", "correct", "grade_status", "source") if c in preds.column_names]
    ds = preds.remove_columns(old).add_column("source", list(preds["benchmark"]))
    graded = grade_dataset(
        ds,
        GradeConfig(timeout_s=timeout_s, num_proc=num_proc),
        response_column="response",
        answer_column="gold",
    )
    return graded.remove_columns(["source"])


# --------------------------------------------------------------------------- run


def _check_settings(path: Path, settings: dict[str, Any]) -> None:
    """Refuse to resume shards that were sampled with other settings."""
    if path.is_file():
        old = json.loads(path.read_text(encoding="utf-8"))
        if old != settings:
            diff = sorted(k for k in set(old) | set(settings) if old.get(k) != settings.get(k))
            raise DartError(
                f"{path.with_suffix('')} holds samples made with other settings "
                f"({', '.join(diff)}); use another -o/--out or delete that folder"
            )
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(settings, indent=1, sort_keys=True), encoding="utf-8")


def _load_queries(config: EvalConfig, benchmark: str) -> tuple[Dataset, dict[str, Any]]:
    from dart_hf.sources import load_benchmark_source

    loaded = load_benchmark_source(benchmark, data_dir=config.data_dir, limit=config.limit)
    if len(loaded.dataset) == 0:
        raise DartError(f"{benchmark}: no items to evaluate in {loaded.location}")
    queries = loaded.dataset.map(
        prepare_batch,
        batched=True,
        fn_kwargs={"benchmark": benchmark, "version": PREP_VERSION},
        desc=f"prepare {benchmark}",
    )
    info = {
        "location": loaded.location,
        "rows_read": loaded.rows_read,
        "excluded_needs_picture": loaded.excluded_needs_picture,
        "licence": loaded.licence,
    }
    return queries, info


def _to_predictions(samples: Dataset, seed: int) -> Dataset:
    ds = samples.rename_column("answer", "gold")
    if "seed" in ds.column_names:
        ds = ds.remove_columns(["seed"])
    ds = ds.add_column("seed", [seed] * len(ds))
    keep = [c for c in PREDICTION_COLUMNS if c in ds.column_names]
    return ds.select_columns(keep)


def run_eval(
    config: EvalConfig,
    out_dir: str | Path,
    *,
    engine_spec: Any,
    progress: bool = True,
) -> dict[str, Any]:
    """Run the evaluation and write its outputs under `out_dir`.

    Writes `samples/` (resumable sampling shards), `results.json`, `results.md` and
    `predictions/` (a Hub-layout dataset, one config per benchmark, split `test`, with the
    evaluation card as README.md). A rerun of the same command reuses finished shards.

    Args:
        config: Evaluation settings.
        out_dir: Output folder.
        engine_spec: The `EngineSpec` of the model to evaluate.
        progress: Show progress bars.

    Returns:
        The results (as saved in `results.json`).
    """
    start = time.time()
    # every benchmark is loaded (and checked) before an engine starts
    loaded = {bench: _load_queries(config, bench) for bench in config.benchmarks}
    data_info = {bench: info for bench, (_, info) in loaded.items()}

    from dart_hf.config import SamplingConfig
    from dart_hf.engines import get_engine
    from dart_hf.sampling import generation_totals, run_sampling

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    spec_dict = engine_spec.to_dict() if hasattr(engine_spec, "to_dict") else {}
    per_bench: dict[str, Dataset] = {}
    generation: dict[str, Any] = {}
    for bench, (queries, _) in loaded.items():
        sampling = SamplingConfig(
            n=1,
            temperature=config.temperature,
            top_p=config.top_p,
            max_tokens=config.max_tokens,
            template=config.template,
            n_shots=config.shots_for(bench),
        )
        parts = []
        for seed in config.seeds:
            folder = out / "samples" / bench / f"seed-{seed}"
            _check_settings(
                folder.with_suffix(".json"),
                {**config.sampling_dict(bench, seed), "engine": spec_dict},
            )
            samples = run_sampling(
                queries,
                folder,
                engine_spec=engine_spec,
                sampling=sampling,
                round=0,
                seed=seed,
                shard_size=config.shard_size,
                progress=progress,
            )
            parts.append(_to_predictions(samples, seed))
        generation[bench] = generation_totals(
            [out / "samples" / bench / f"seed-{seed}" for seed in config.seeds]
        )
        logger.info("grading %s", bench)
        graded = grade_predictions(
            concatenate_datasets(parts), timeout_s=config.grade_timeout_s, num_proc=config.num_proc
        )
        per_bench[bench] = graded.select_columns(
            [c for c in PREDICTION_COLUMNS if c in graded.column_names]
        )
    preds = concatenate_datasets(list(per_bench.values()))
    provenance = dict(get_engine(engine_spec).provenance())
    model_id = spec_dict.get("model") or provenance.get("model")
    reported = reported_for(spec_dict.get("model"))
    results: dict[str, Any] = {
        "model": model_id,
        "provenance": provenance,
        "settings": {
            **dataclasses.asdict(config),
            "n_shots_used": {b: config.shots_for(b) for b in config.benchmarks},
            "engine": spec_dict,
        },
        "exemplars": {b: exemplar_source(b) for b in config.benchmarks if config.shots_for(b) > 0},
        "grader": _grader_info(),
        "data": data_info,
        **summarize_predictions(preds, reported),
        "paper": reported,
        "generation": generation,
        "wall_time_s": round(time.time() - start, 1),
    }
    write_outputs(results, per_bench, out)
    return results


def _grader_info() -> dict[str, Any]:
    import importlib.metadata

    from dart_hf import grading

    try:
        version = importlib.metadata.version("math-verify")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover
        version = None
    return {
        "name": "math-verify",
        "version": version,
        "grade_version": getattr(grading, "GRADE_VERSION", None),
    }


def write_outputs(results: dict[str, Any], per_bench: dict[str, Dataset], out: Path) -> None:
    """Write results.json, results.md and the predictions dataset with its card."""
    from dart_hf.hub import write_hub_folder

    (out / "results.json").write_text(
        json.dumps(results, indent=1, default=str) + "\n", encoding="utf-8"
    )
    (out / "results.md").write_text(results_markdown(results), encoding="utf-8")
    folder = out / "predictions"
    if folder.exists():  # derived data: rebuilt whole so no stale config survives
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / "README.md").write_text(render_card(results), encoding="utf-8")
    write_hub_folder(dict(per_bench), folder, split="test")


def push_results(out_dir: str | Path, repo: str | None, **kwargs: Any) -> str:
    """Upload the staged predictions dataset and its card (`DIR/predictions`) to the Hub."""
    from dart_hf.hub import push_folder

    folder = Path(out_dir) / "predictions"
    if not (folder / "README.md").is_file():
        raise DartError(f"{folder}: no staged predictions; run the evaluation first")
    return push_folder(folder, repo, **kwargs)
