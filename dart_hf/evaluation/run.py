"""`dart-hf eval`: the paper's evaluation protocol over the six benchmarks, for any model.

Protocol (DART-Math, section 4): greedy decoding (temperature 0), at most 2048 new tokens,
final-answer accuracy graded by the grading stage (Math-Verify plus per-benchmark gold
handling). Fine-tuned models are run zero-shot with the `alpaca` prompt (the DART models'
protocol); base models few-shot with the `qa` template (4 shots, TheoremQA 5) from the fixed
exemplars in `dart_hf.sampling.fewshot`. OlympiadBench queries carry its official instruction.
With no model, the embedded SmolLM2-135M-Instruct runs with `chat` (it is an instruct model).

Seeds: greedy decoding gives the same text for every seed, so several seeds only make sense
with sampling; with more than one seed the recipe's `temperature` (and `top_p`) are used, and
a run asking for several seeds without a temperature > 0 is refused.

Everything below goes through the sampling stage (`run_sampling`, resumable parquet shards under
`DIR/samples/<benchmark>/seed-<s>/`) and the grading stage (`grade_dataset`); a killed run
continues from its last finished shard with the same command.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datasets import Dataset, concatenate_datasets

from dart_hf import benchmarks as registry
from dart_hf import engines, outputs
from dart_hf.config import (
    SERVER_SETTINGS,
    BuildConfig,
    GradeConfig,
    SamplingConfig,
    ServerConfig,
    StreamConfig,
    build_dataclass,
    check_value,
    resolve_section,
)
from dart_hf.engines import BACKENDS, check_model
from dart_hf.engines.base import EngineSpec
from dart_hf.engines.serve import attach
from dart_hf.errors import DartError, unknown_name
from dart_hf.evaluation.results import (
    protocol,
    reported_for,
    results_markdown,
    summarize_predictions,
    write_eval_card,
)
from dart_hf.executors import Executor, ExecutorSpec, make_executor
from dart_hf.folders import EvalFolder, SamplingFolder
from dart_hf.grading.grade import grader_info
from dart_hf.hub.folder import write_hub_folder
from dart_hf.hub.push import push_folder
from dart_hf.outputs import atomic_write
from dart_hf.sampling.fewshot import default_shots, exemplar_source, get_exemplars, pose_queries
from dart_hf.sampling.prompts import get_template
from dart_hf.sampling.shards import check_context, generation_totals, seeding_of
from dart_hf.sources import load_benchmark_source

logger = logging.getLogger(__name__)

PREP_VERSION = "1"
"""Bump when `prepare_batch` changes what it writes (datasets' cache hashes it by reference)."""

PREDICTION_COLUMNS = (
    "id",
    "benchmark",
    "seed",
    "sample_idx",
    "level",
    "domain",
    "query",
    "response",
    "pred",
    "gold",
    "correct",
    "grade_status",
    "finish_reason",
    "n_tokens",
    # gold details the grader reads, kept so a predictions file regrades identically
    "answers",
    "answer_type",
    "multi_answer",
    "unit",
    "tolerance",
)


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
        benchmarks: Benchmark names (keys of `benchmarks.BENCHMARKS`).
        template: Prompt template (see `dart_hf.sampling.prompts.TEMPLATES`).
        n_shots: Exemplars per prompt; None means the paper's count (4, TheoremQA 5) for the
            `qa` template (base models) and 0 for the others.
        limit: First N items of each benchmark; None for all.
        seeds: One run per seed.
        n: Responses sampled per item and seed (the sampling setting `n`); > 1 needs a
            temperature > 0 and adds pass@k / maj@k for k = 1..n to the results.
        temperature: 0 is greedy (the protocol); > 0 only makes sense with several seeds or n.
        top_p: Nucleus mass when sampling.
        max_tokens: Maximum new tokens; a response cut there counts as wrong (`truncated`).
        data_dir: Folder with `<benchmark>/test.jsonl` (e.g. ../shared/data); None = bundled.
        shard_size: Queries per sampling shard (the unit of resume).
        timeout_s: Hard wall-clock limit per graded item.
        num_proc: Grading worker processes.
        max_in_flight: Requests in flight at most (None: the engine's default); changes no
            prediction, so it is in no fingerprint.
        stream: Send each benchmark and seed to the engine as one stream (false: one
            blocking call per shard).
    """

    benchmarks: tuple[str, ...] = dataclasses.field(default_factory=registry.averaged)
    template: str = "chat"
    n_shots: int | None = None
    limit: int | None = None
    seeds: tuple[int, ...] = (0,)
    n: int = 1
    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 2048
    data_dir: str | None = None
    shard_size: int = 64
    timeout_s: float = 5.0
    num_proc: int = 1
    max_in_flight: int | None = None
    stream: bool = True

    def __post_init__(self) -> None:
        StreamConfig(self.max_in_flight, self.stream)  # checks max_in_flight
        if not self.benchmarks:
            raise DartError("no benchmark given")
        for name in self.benchmarks:
            registry.get(name)  # an unknown name lists the known ones
        if len(set(self.benchmarks)) != len(self.benchmarks):
            raise DartError(f"benchmarks listed twice: {', '.join(self.benchmarks)}")
        if self.limit is not None and self.limit < 1:
            raise DartError(f"--limit must be >= 1 (or left out for all items), got {self.limit}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise DartError(f"seeds must be distinct and at least one, got {list(self.seeds)}")
        if self.temperature < 0:
            raise DartError(f"temperature must be >= 0, got {self.temperature}")
        if self.n < 1:
            raise DartError(f"--n must be >= 1 (responses per item), got {self.n}")
        if self.n > 1 and self.temperature == 0:
            raise DartError(
                f"--n {self.n} with greedy decoding (temperature 0) would give {self.n} "
                "identical responses per item: give --temperature > 0 (or a recipe with one)"
            )
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
        if not 0 < self.timeout_s < float("inf"):  # also NaN
            raise DartError(f"timeout_s must be > 0 and finite, got {self.timeout_s}")
        if self.num_proc < 1:
            raise DartError(f"num_proc must be >= 1, got {self.num_proc}")
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
            "n": self.n,
        }


ENGINE_KEYS = ("model", "engine", "dtype", "max_model_len", "engine_options")
"""Engine settings an evaluation reads (typed and checked as a build's, `BuildConfig`)."""
SETTING_NAMES = frozenset(f.name for f in dataclasses.fields(EvalConfig)) | set(ENGINE_KEYS) | SERVER_SETTINGS
"""Every key an `eval:` mapping may hold."""
RECIPE_KEYS = frozenset({*ENGINE_KEYS, *SERVER_SETTINGS, "template", "temperature", "top_p", "data_dir"})
"""Keys `resolve_config` reads from a recipe's top level; everything else goes under `eval:`."""


def _pick(settings: dict[str, Any], key: str, default: Any) -> Any:
    value = settings.get(key)
    return default if value is None else value


def resolve_config(recipe: dict[str, Any], overrides: dict[str, Any]) -> tuple[EvalConfig, EngineSpec]:
    """Build the evaluation settings from a recipe and CLI flags (None = not given).

    The recipe may keep evaluation settings flat or under an `eval:` mapping (which wins).
    Outside `eval:` only `RECIPE_KEYS` are read (a build recipe's `max_tokens` or `limit` are
    synthesis settings). Greedy decoding is the default whatever the recipe's synthesis
    temperature; the recipe's `temperature`/`top_p` apply only when several seeds or `n` > 1
    responses per item are asked for, and `--temperature`/`--top-p` whenever given.
    Values are checked by `config.build_dataclass` (types, ranges, the field named).

    Returns:
        The EvalConfig, and the engine to evaluate (seeded with the first seed).
    """
    # A build recipe's other flat keys (limit, max_tokens, shard_size, ...) describe synthesis,
    # not the evaluation protocol, so only RECIPE_KEYS are read outside `eval:`.
    settings = resolve_section(recipe, "eval", overrides, SETTING_NAMES, flat_names=RECIPE_KEYS)
    where = "evaluation settings"
    seeds = check_value("seeds", _pick(settings, "seeds", (0,)), tuple[int, ...], where)
    values = {k: v for k, v in settings.items() if k not in ENGINE_KEYS and k not in SERVER_SETTINGS}
    values["seeds"] = seeds
    n = check_value("n", _pick(settings, "n", 1), int, where)
    if len(seeds) <= 1 and n <= 1:  # greedy unless --temperature says otherwise: the
        # recipe's synthesis temperature does not apply to one response per item
        given = {k: overrides[k] for k in ("temperature", "top_p") if overrides.get(k) is not None}
        values.update({"temperature": 0.0, "top_p": 1.0, **given})
    engine_cfg = build_dataclass(BuildConfig, {k: settings.get(k) for k in ENGINE_KEYS}, where=where)
    values["template"] = _pick(values, "template", default_template(engine_cfg.model))
    config = build_dataclass(EvalConfig, values, where=where)
    if engine_cfg.engine not in BACKENDS:
        raise unknown_name("engine", engine_cfg.engine, BACKENDS)
    check_model(engine_cfg.engine, engine_cfg.model)
    if settings.get("max_model_len") is None:  # room for the prompt beside max_tokens
        engine_cfg = dataclasses.replace(engine_cfg, max_model_len=max(4096, config.max_tokens + 2048))
    return config, engine_cfg.engine_spec(seed=config.seeds[0])


def resolve_server(recipe: dict[str, Any], overrides: dict[str, Any]) -> ServerConfig:
    """The served model's settings (`--base-url`, `--serve`, ...; flags over the recipe)."""
    settings = resolve_section(recipe, "eval", overrides, SETTING_NAMES, flat_names=RECIPE_KEYS)
    return build_dataclass(ServerConfig, settings, where="evaluation settings")  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- stages


def prepare_batch(batch: dict[str, list], *, benchmark: str, version: str = PREP_VERSION) -> dict:
    """Stage: pose each query as the benchmark's protocol does and tag it with its benchmark.

    A benchmark whose record names an instruction (OlympiadBench: the official one, with answer
    type, multiple answers and unit) gets it before the question; others keep the question.

    Args:
        batch: Query rows in the normalised source schema.
        benchmark: The benchmark these rows come from.
        version: Stage version (part of the cache fingerprint).
    """
    del version
    queries = pose_queries(batch, benchmark)
    return {"query": queries, "benchmark": [benchmark] * len(queries)}


def grade_predictions(
    preds: Dataset,
    *,
    timeout_s: float = 5.0,
    num_proc: int = 1,
    executor: Executor | None = None,
) -> Dataset:
    """Grade (or regrade) a predictions table: new `pred`, `correct`, `grade_status` columns.

    The predictions keep every gold field the grader reads, so regrading a saved predictions
    file gives the verdicts it holds.

    Args:
        preds: Rows with `benchmark`, `response`, `gold` and the gold details.
        timeout_s: Wall-clock limit per row.
        num_proc: Grading processes (capped at rows and cores).
        executor: Where grading runs (default: this process's grading pool; Ray grades chunks
            of rows as tasks through the same pool code).
    """
    missing = [c for c in ("benchmark", "response", "gold") if c not in preds.column_names]
    if missing:
        found = ", ".join(preds.column_names)
        raise DartError(f"predictions lack column(s) {', '.join(missing)}; found {found}")
    old = [c for c in ("pred", "correct", "grade_status", "source") if c in preds.column_names]
    ds = preds.remove_columns(old).add_column("source", list(preds["benchmark"]))
    # executors grade the `answer` column; a predictions table calls its gold `gold`
    clash = "answer" in ds.column_names
    if clash:
        ds = ds.rename_column("answer", "_answer")
    ds = ds.rename_column("gold", "answer")
    executor = executor or make_executor(ExecutorSpec())
    graded = executor.grade(ds, GradeConfig(timeout_s=timeout_s, num_proc=num_proc))
    graded = graded.rename_column("answer", "gold")
    if clash:
        graded = graded.rename_column("_answer", "answer")
    return graded.remove_columns(["source"])


# --------------------------------------------------------------------------- run


REGRADABLE = ("grader", "data.gold_hash")
"""What `--regrade` may change in a folder: the saved samples stay valid."""


def _check_settings(path: Path, fingerprint: dict[str, Any], folder: SamplingFolder, regrade: bool) -> None:
    """Refuse to resume shards made with other settings, another grader or other golds."""
    outputs.check_fingerprint(
        path,
        fingerprint,
        what="samples",
        folder=folder.path,
        has_work=folder.has_shards,
        remedy="use another -o/--out (or delete that folder)",
        allow=REGRADABLE if regrade else (),
        regradable=REGRADABLE,
        regrade_remedy="rerun with --regrade to grade the saved samples again with the current "
        "grader and gold answers",
    )


def _load_queries(config: EvalConfig, benchmark: str) -> tuple[Dataset, dict[str, Any]]:
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
    regrade: bool = False,
    executor: ExecutorSpec | None = None,
    server: ServerConfig | None = None,
    lock: bool = True,
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
        regrade: Accept a folder whose samples were graded with another grader or other gold
            answers (same queries and settings): the samples are kept and graded again.
        executor: Where sampling and grading run (default: this process; or Ray, as for
            `dart-hf build`: the same shards, seeds and verdicts either way).
        server: A served model's settings (`--base-url`, `--serve`): the engine samples from
            it (a server to start is started here and stopped at the end).
        lock: Take the folder's lock (False: the caller holds it, `dart-hf regrade`).

    Returns:
        The results (as saved in `results.json`).

    Raises:
        DartError: Bad input, a folder holding samples made with other settings (or another
            grader or other golds, without `regrade`), a folder in use, or a full disk.
    """
    start = time.time()
    # every benchmark is loaded (and checked) before an engine starts
    loaded = {bench: _load_queries(config, bench) for bench in config.benchmarks}
    folder = EvalFolder(Path(out_dir))
    held = folder.lock("eval") if lock else contextlib.nullcontext()
    with held, attach(engine_spec, server or ServerConfig(), folder.root) as spec:
        return _run_eval(
            config,
            folder,
            loaded,
            spec,
            progress,
            regrade,
            start,
            make_executor(executor or ExecutorSpec()),
        )


def _run_eval(
    config: EvalConfig,
    out: EvalFolder,
    loaded: dict[str, tuple[Dataset, dict[str, Any]]],
    engine_spec: Any,
    progress: bool,
    regrade: bool,
    start: float,
    executor: Executor,
) -> dict[str, Any]:
    outputs.recover_replaced(out.root)  # predictions a kill left half moved in
    data_info = {bench: info for bench, (_, info) in loaded.items()}
    spec_dict = engine_spec.to_dict() if hasattr(engine_spec, "to_dict") else {}
    per_bench: dict[str, Dataset] = {}
    generation: dict[str, Any] = {}
    recorded: dict[str, Any] | None = None  # the engine's provenance, as the samples hold it
    for bench, (queries, _) in loaded.items():
        sampling = SamplingConfig(
            n=config.n,
            temperature=config.temperature,
            top_p=config.top_p,
            max_tokens=config.max_tokens,
            template=config.template,
            n_shots=config.shots_for(bench),
        )
        parts = []
        # Shards hold what the model wrote for the queries; gold answers are joined back from
        # the benchmark on every run, so a regrade sees the current golds.
        golds = [c for c in outputs.GOLD_COLUMNS if c in queries.column_names]
        posed = queries.remove_columns(golds)
        check_context(engine_spec, posed, sampling)
        for seed in config.seeds:
            folder = out.samples(bench, seed)
            fingerprint = {
                "settings": {**config.sampling_dict(bench, seed), "engine": spec_dict},
                "grader": grader_info(),
                "data": outputs.data_fingerprint(queries),
            }
            _check_settings(out.samples_record(bench, seed), fingerprint, folder, regrade)
            samples = executor.sample(
                posed,
                folder,
                engine_spec=engine_spec,
                sampling=sampling,
                round=0,
                seed=seed,
                shard_size=config.shard_size,
                progress=progress,
                stream=StreamConfig(config.max_in_flight, config.stream),
            )
            if samples["id"] != [i for i in posed["id"] for _ in range(config.n)]:
                raise DartError(f"{folder.path}: the shards do not match the benchmark's items")
            if recorded is None and len(samples):
                first = samples.select(range(1)).to_list()[0]
                recorded = {k: first[k] for k in ("engine", "engine_version", "model", "model_hash")}
            gold = queries.select_columns(golds)
            if config.n > 1:  # one row per response: each item's golds repeated n times
                gold = gold.select([i for i in range(len(gold)) for _ in range(config.n)])
            samples = concatenate_datasets([samples, gold], axis=1)
            parts.append(_to_predictions(samples, seed))
        generation[bench] = generation_totals([out.samples(bench, seed) for seed in config.seeds])
        logger.info("grading %s", bench)
        graded = grade_predictions(
            concatenate_datasets(parts),
            timeout_s=config.timeout_s,
            num_proc=config.num_proc,
            executor=executor,
        )
        per_bench[bench] = graded.select_columns([c for c in PREDICTION_COLUMNS if c in graded.column_names])
    preds = concatenate_datasets(list(per_bench.values()))
    # a rerun or regrade whose shards are all done needs no engine (nor a GPU) for this
    provenance = recorded or dict(engines.get_engine(engine_spec).provenance())
    model_id = spec_dict.get("model") or provenance.get("model")
    reported = reported_for(spec_dict.get("model"))
    results: dict[str, Any] = {
        "model": model_id,
        "provenance": provenance,
        "settings": {
            **dataclasses.asdict(config),
            "n_shots_used": {b: config.shots_for(b) for b in config.benchmarks},
            "engine": spec_dict,
            "seeding": seeding_of(engine_spec),
        },
        "exemplars": {b: exemplar_source(b) for b in config.benchmarks if config.shots_for(b) > 0},
        "grader": grader_info(),
        "data": data_info,
        **summarize_predictions(preds, reported),
        "paper": reported,
        "generation": generation,
        "wall_time_s": round(time.time() - start, 1),
    }
    results["protocol"] = protocol(results["settings"], provenance, results["grader"])
    write_outputs(results, per_bench, out)
    return results


def write_outputs(results: dict[str, Any], per_bench: dict[str, Dataset], out: EvalFolder) -> None:
    """Write results.json, results.md and the predictions dataset with its card."""
    atomic_write(out.results, json.dumps(results, indent=1, default=str) + "\n")
    atomic_write(out.results_md, results_markdown(results))
    # derived data: rebuilt whole (no stale config survives), staged and renamed in, so a
    # killed run leaves the old predictions or the new ones, never a mix
    staged = out.staging
    if staged.exists():
        shutil.rmtree(staged)
    staged.mkdir(parents=True)
    write_hub_folder(dict(per_bench), staged, split="test")
    write_eval_card(staged, results, rows=sum(len(ds) for ds in per_bench.values()))
    outputs.replace_folder(staged, out.predictions)
    staged.parent.rmdir()


def push_results(out_dir: str | Path, repo: str | None, **kwargs: Any) -> str:
    """Upload the staged predictions dataset and its card (`DIR/predictions`) to the Hub."""
    folder = EvalFolder(Path(out_dir)).predictions
    if not (folder / "README.md").is_file():
        raise DartError(f"{folder}: no staged predictions; run the evaluation first")
    return push_folder(folder, repo, **kwargs)
