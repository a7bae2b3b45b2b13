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
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datasets import Dataset, concatenate_datasets

from dart_hf.errors import DartError, unknown_name
from dart_hf.fewshot import default_shots, exemplar_source, get_exemplars, olympiad_query

logger = logging.getLogger(__name__)

SIX = ("math", "gsm8k", "college_math", "deepmind_mathematics", "olympiadbench", "theoremqa")
"""The paper's six benchmarks, in its table order; the average is taken over these."""
EVAL_BENCHMARKS = (*SIX, "math500")
"""Benchmarks `dart-hf eval` accepts (MATH500 is reported apart from the six)."""
LABELS = {
    "math": "MATH",
    "math500": "MATH500",
    "gsm8k": "GSM8K",
    "college_math": "CollegeMath",
    "deepmind_mathematics": "DeepMind",
    "olympiadbench": "OlympiadBench",
    "theoremqa": "TheoremQA",
}
STATUSES = ("ok", "no_answer", "timeout", "error", "truncated", "bad_gold")
PREP_VERSION = "1"
"""Bump when `prepare_batch` changes what it writes (datasets' cache hashes it by reference)."""

PREDICTION_COLUMNS = (
    "id", "benchmark", "seed", "level", "domain", "query", "response", "pred", "gold",
    "correct", "grade_status", "finish_reason", "n_tokens",
    # gold details the grader reads, kept so a predictions file regrades identically
    "answers", "answer_type", "multi_answer", "unit", "tolerance",
)  # fmt: skip

# Reported accuracies (%) keyed by Hub id. Source: DART-Math paper, Table 2 (the spec's table),
# and the hkust-nlp/dart-math README for the Uniform models outside that table (None = not
# reported). The paper's VRT baselines were not released on the Hub, so they have no key here.
REPORTED_ACCURACIES: dict[str, dict[str, float | None]] = {
    "hkust-nlp/dart-math-mistral-7b-uniform": dict(
        math=43.5, gsm8k=82.6, college_math=26.9, deepmind_mathematics=42.0,
        olympiadbench=13.2, theoremqa=16.4, average=37.4),
    "hkust-nlp/dart-math-mistral-7b-prop2diff": dict(
        math=45.5, gsm8k=81.1, college_math=29.4, deepmind_mathematics=45.1,
        olympiadbench=14.7, theoremqa=17.0, average=38.8),
    "hkust-nlp/dart-math-llama3-8b-prop2diff": dict(
        math=46.6, gsm8k=81.1, college_math=28.8, deepmind_mathematics=48.0,
        olympiadbench=14.5, theoremqa=19.4, average=39.7),
    "hkust-nlp/dart-math-dsmath-7b-prop2diff": dict(
        math=53.6, gsm8k=86.8, college_math=40.7, deepmind_mathematics=61.6,
        olympiadbench=21.7, theoremqa=32.2, average=49.4),
    "hkust-nlp/dart-math-llama3-70b-prop2diff": dict(
        math=56.1, gsm8k=89.6, college_math=37.9, deepmind_mathematics=64.1,
        olympiadbench=20.0, theoremqa=28.2, average=49.3),
    "deepseek-ai/deepseek-math-7b-rl": dict(
        math=53.1, gsm8k=88.4, college_math=41.3, deepmind_mathematics=58.3,
        olympiadbench=18.7, theoremqa=35.9, average=49.3),
    "hkust-nlp/dart-math-llama3-8b-uniform": dict(
        math=45.3, gsm8k=82.5, college_math=27.1, deepmind_mathematics=None,
        olympiadbench=None, theoremqa=None, average=None),
    "hkust-nlp/dart-math-dsmath-7b-uniform": dict(
        math=52.9, gsm8k=88.2, college_math=40.1, deepmind_mathematics=None,
        olympiadbench=None, theoremqa=None, average=None),
    "hkust-nlp/dart-math-llama3-70b-uniform": dict(
        math=54.9, gsm8k=90.4, college_math=38.5, deepmind_mathematics=None,
        olympiadbench=None, theoremqa=None, average=None),
}  # fmt: skip


def reported_for(model: str | None) -> dict[str, float | None] | None:
    """The paper's accuracies for a model, by Hub id or a local folder named like the repo."""
    if not model:
        return None
    key = model.strip().rstrip("/").lower()
    for hub_id, row in REPORTED_ACCURACIES.items():
        if key == hub_id or key.rsplit("/", 1)[-1] == hub_id.rsplit("/", 1)[-1]:
            return row
    return None


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


# --------------------------------------------------------------------------- results


def _pct(correct: int, graded: int) -> float | None:
    return round(100.0 * correct / graded, 4) if graded else None


def _acc(rows: Sequence[tuple[Any, str]]) -> tuple[int, float | None]:
    """(graded items, accuracy %) over (correct, grade_status) pairs; bad_gold is left out."""
    graded = [c for c, s in rows if s != "bad_gold"]
    return len(graded), _pct(sum(1 for c in graded if c is True), len(graded))


def _spread(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"accuracy": None, "std": None, "min": None, "max": None}
    return {
        "accuracy": round(statistics.fmean(values), 4),
        "std": round(statistics.stdev(values), 4) if len(values) > 1 else 0.0,
        "min": min(values),
        "max": max(values),
    }


def summarize_predictions(
    preds: Dataset | dict[str, list], reported: dict[str, float | None] | None = None
) -> dict[str, Any]:
    """Accuracy per benchmark (mean and spread over seeds), the six-benchmark average,
    MATH by level and subject, and grade-status counts, from a predictions table.

    Accuracy = correct / items whose gold answer parses (`bad_gold` items are counted apart).
    """
    cols = preds.to_dict() if isinstance(preds, Dataset) else preds
    n = len(cols["benchmark"])
    get = {k: cols.get(k) or [None] * n for k in ("level", "domain")}
    groups: dict[str, dict[int, list[int]]] = {}
    for i in range(n):
        groups.setdefault(cols["benchmark"][i], {}).setdefault(int(cols["seed"][i]), []).append(i)
    order = [b for b in EVAL_BENCHMARKS if b in groups] + sorted(set(groups) - set(EVAL_BENCHMARKS))
    benchmarks: dict[str, Any] = {}
    for bench in order:
        per_seed: dict[str, float] = {}
        counts = dict.fromkeys(STATUSES, 0)
        levels: dict[str, list[tuple[Any, str]]] = {}
        domains: dict[str, list[tuple[Any, str]]] = {}
        items = 0
        for seed, idx in sorted(groups[bench].items()):
            pairs = [(cols["correct"][i], cols["grade_status"][i]) for i in idx]
            _, acc = _acc(pairs)
            if acc is not None:
                per_seed[str(seed)] = acc
            items = len(idx)
            for i, pair in zip(idx, pairs, strict=True):
                counts[pair[1]] = counts.get(pair[1], 0) + 1
                if bench in ("math", "math500"):
                    levels.setdefault(str(get["level"][i]), []).append(pair)
                    domains.setdefault(str(get["domain"][i]), []).append(pair)
        entry: dict[str, Any] = {
            "label": LABELS.get(bench, bench),
            "n": items,
            **_spread(list(per_seed.values())),
            "per_seed": per_seed,
            "counts": counts,
            "reported": (reported or {}).get(bench),
        }
        if levels:
            entry["by_level"] = {
                k: dict(zip(("n", "accuracy"), _acc(v), strict=True))
                for k, v in sorted(levels.items())
            }
            entry["by_domain"] = {
                k: dict(zip(("n", "accuracy"), _acc(v), strict=True))
                for k, v in sorted(domains.items())
            }
        benchmarks[bench] = entry
    present = [b for b in SIX if b in benchmarks]
    seeds = sorted({s for b in present for s in benchmarks[b]["per_seed"]}, key=int)
    avg_per_seed = {
        s: round(statistics.fmean(benchmarks[b]["per_seed"][s] for b in present), 4)
        for s in seeds
        if all(s in benchmarks[b]["per_seed"] for b in present)
    }
    average = {
        "benchmarks": present,
        "complete": len(present) == len(SIX),
        **_spread(list(avg_per_seed.values())),
        "per_seed": avg_per_seed,
        "reported": (reported or {}).get("average") if len(present) == len(SIX) else None,
    }
    return {"benchmarks": benchmarks, "average": average}


def _fmt(x: float | None, std: float | None = None) -> str:
    if x is None:
        return "–"
    return f"{x:.1f} ± {std:.1f}" if std else f"{x:.1f}"


def results_markdown(results: dict[str, Any]) -> str:
    """The results as Markdown tables (accuracy in %, the paper's figures beside them)."""
    bench = results["benchmarks"]
    multi = len(results.get("settings", {}).get("seeds", [0])) > 1
    head = "| benchmark | n | accuracy" + (" (mean ± sd)" if multi else "")
    lines = [
        head + " | paper | no_answer | timeout | truncated | bad_gold |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for b in bench.values():
        c = b["counts"]
        lines.append(
            f"| {b['label']} | {b['n']} | {_fmt(b['accuracy'], b['std'])} | {_fmt(b['reported'])} "
            f"| {c['no_answer']} | {c['timeout']} | {c['truncated']} | {c['bad_gold']} |"
        )
    avg = results["average"]
    if avg["benchmarks"]:
        label = "**Average**" if avg["complete"] else f"Average ({len(avg['benchmarks'])} of 6)"
        lines.append(
            f"| {label} | | {_fmt(avg['accuracy'], avg['std'])} | {_fmt(avg['reported'])} | | | | |"
        )
    out = ["\n".join(lines)]
    for name in ("math", "math500"):
        if name in bench and "by_level" in bench[name]:
            b = bench[name]
            for key, title in (("by_level", "level"), ("by_domain", "subject")):
                rows = [f"| {title} | n | accuracy |", "|---|---:|---:|"]
                rows += [f"| {k} | {v['n']} | {_fmt(v['accuracy'])} |" for k, v in b[key].items()]
                out.append(f"{b['label']} by {title} (pooled over seeds):\n\n" + "\n".join(rows))
    return "\n\n".join(out) + "\n"


# --------------------------------------------------------------------------- card


def render_card(results: dict[str, Any]) -> str:
    """The evaluation-results card (README.md of the predictions dataset), YAML header included.

    Rendered from `dataset_cards/eval.md.j2` through `cards.render_template`.
    """
    from dart_hf.cards import render_template

    context = {"r": results, "table": results_markdown(results), "labels": LABELS}
    return render_template("eval.md.j2", context)


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
    from dart_hf.sampling import run_sampling

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    spec_dict = engine_spec.to_dict() if hasattr(engine_spec, "to_dict") else {}
    per_bench: dict[str, Dataset] = {}
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
