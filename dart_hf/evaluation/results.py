"""The results of `dart-hf eval`: accuracy tables, the paper's figures beside them, the card.

`summarize_predictions` turns a predictions table (one row per item and seed, graded) into
the results mapping that `results.json` holds; `results_markdown` and `render_card` show it.
Accuracy is correct / items whose gold answer parses; `bad_gold` items are counted apart.
Each benchmark's `estimates` (and the average's) hold accuracy ± its standard error with items
as the unit, unbiased pass@k and maj@k for k = 1..n (`dart_hf.evaluation.passk`); `protocol`
collects everything that changes an answer (engine and version, dtype, parallel sizes, batching,
seeds, n, template, max tokens, grader).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from datasets import Dataset

from dart_hf import benchmarks as registry
from dart_hf.evaluation.passk import Sample, grader_equal, item_table
from dart_hf.evaluation.plots import EVAL_PLOT, plot_eval_accuracy
from dart_hf.grading.verdict import STATUSES, accuracy
from dart_hf.hub.cards import render_template, save_card, size_category
from dart_hf.hub.images import IMAGES_DIR

# Reported accuracies (%) keyed by Hub id. Source: DART-Math paper, Table 2 (the spec's table),
# and the hkust-nlp/dart-math README for the Uniform models outside that table (None = not
# reported). The paper's VRT baselines were not released on the Hub, so they have no key here.
REPORTED_ACCURACIES: dict[str, dict[str, float | None]] = {
    "hkust-nlp/dart-math-mistral-7b-uniform": dict(
        math=43.5,
        gsm8k=82.6,
        college_math=26.9,
        deepmind_mathematics=42.0,
        olympiadbench=13.2,
        theoremqa=16.4,
        average=37.4,
    ),
    "hkust-nlp/dart-math-mistral-7b-prop2diff": dict(
        math=45.5,
        gsm8k=81.1,
        college_math=29.4,
        deepmind_mathematics=45.1,
        olympiadbench=14.7,
        theoremqa=17.0,
        average=38.8,
    ),
    "hkust-nlp/dart-math-llama3-8b-prop2diff": dict(
        math=46.6,
        gsm8k=81.1,
        college_math=28.8,
        deepmind_mathematics=48.0,
        olympiadbench=14.5,
        theoremqa=19.4,
        average=39.7,
    ),
    "hkust-nlp/dart-math-dsmath-7b-prop2diff": dict(
        math=53.6,
        gsm8k=86.8,
        college_math=40.7,
        deepmind_mathematics=61.6,
        olympiadbench=21.7,
        theoremqa=32.2,
        average=49.4,
    ),
    "hkust-nlp/dart-math-llama3-70b-prop2diff": dict(
        math=56.1,
        gsm8k=89.6,
        college_math=37.9,
        deepmind_mathematics=64.1,
        olympiadbench=20.0,
        theoremqa=28.2,
        average=49.3,
    ),
    "deepseek-ai/deepseek-math-7b-rl": dict(
        math=53.1,
        gsm8k=88.4,
        college_math=41.3,
        deepmind_mathematics=58.3,
        olympiadbench=18.7,
        theoremqa=35.9,
        average=49.3,
    ),
    "hkust-nlp/dart-math-llama3-8b-uniform": dict(
        math=45.3,
        gsm8k=82.5,
        college_math=27.1,
        deepmind_mathematics=None,
        olympiadbench=None,
        theoremqa=None,
        average=None,
    ),
    "hkust-nlp/dart-math-dsmath-7b-uniform": dict(
        math=52.9,
        gsm8k=88.2,
        college_math=40.1,
        deepmind_mathematics=None,
        olympiadbench=None,
        theoremqa=None,
        average=None,
    ),
    "hkust-nlp/dart-math-llama3-70b-uniform": dict(
        math=54.9,
        gsm8k=90.4,
        college_math=38.5,
        deepmind_mathematics=None,
        olympiadbench=None,
        theoremqa=None,
        average=None,
    ),
}


def reported_for(model: str | None) -> dict[str, float | None] | None:
    """The paper's accuracies for a model, by Hub id or a local folder named like the repo."""
    if not model:
        return None
    key = model.strip().rstrip("/").lower()
    for hub_id, row in REPORTED_ACCURACIES.items():
        if key == hub_id or key.rsplit("/", 1)[-1] == hub_id.rsplit("/", 1)[-1]:
            return row
    return None


def _pct(correct: int, graded: int) -> float | None:
    return round(100.0 * correct / graded, 4) if graded else None


def _acc(rows: Sequence[tuple[Any, str]]) -> tuple[int, float | None]:
    """(graded items, accuracy %) over (correct, grade_status) pairs; bad_gold is left out."""
    graded, right, _ = accuracy([c for c, _ in rows], [s for _, s in rows])
    return graded, _pct(right, graded)


def _spread(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"accuracy": None, "std": None, "min": None, "max": None}
    return {
        "accuracy": round(statistics.fmean(values), 4),
        "std": round(statistics.stdev(values), 4) if len(values) > 1 else 0.0,
        "min": min(values),
        "max": max(values),
    }


def _p(x: float | None) -> float | None:
    return None if x is None else round(100.0 * x, 4)


def _pct_table(table: dict[str, Any]) -> dict[str, Any]:
    """An `item_table` in % with string keys (as JSON keeps them)."""
    return {
        "items": table["items"],
        "bad_gold": table["bad_gold"],
        "n": table["n"],
        "accuracy": _p(table["accuracy"]),
        "se": _p(table["se"]),
        "pass@k": {str(k): _p(v) for k, v in table["pass@k"].items()},
        "maj@k": {str(k): _p(v) for k, v in table["maj@k"].items()},
    }


def item_samples(cols: dict[str, list], idx: Sequence[int]) -> dict[Any, list[tuple[int, Sample]]]:
    """The rows `idx` (one benchmark and seed) as item -> [(sample_idx, Sample)], in sample
    order; items are keyed by `id` (else by position, one row per item)."""
    n = len(cols["benchmark"])
    ids = cols.get("id")
    order = cols.get("sample_idx") or [0] * n
    preds = cols.get("pred") or [None] * n
    items: dict[Any, list[tuple[int, Sample]]] = {}
    for pos, i in enumerate(idx):
        key = ids[i] if ids else pos
        sample = Sample(cols["correct"][i], cols["grade_status"][i], preds[i])
        items.setdefault(key, []).append((int(order[i] or 0), sample))
    for samples in items.values():
        samples.sort(key=lambda t: t[0])
    return items


def benchmark_estimates(
    cols: dict[str, list], per_seed: dict[int, list[int]], benchmark: str
) -> dict[str, Any]:
    """accuracy ± SE, pass@k and maj@k of one benchmark (in %), pooled and per seed.

    pass@k and accuracy pool every seed's samples of an item (n x seeds of them; k = 1..n);
    maj@k is the mean over seeds of each seed's vote of its first k samples. With several
    seeds `per_seed` holds each seed's own estimates.
    """
    equal = grader_equal(benchmark)
    seeds = {s: item_samples(cols, idx) for s, idx in sorted(per_seed.items())}
    first = next(iter(seeds.values()))
    common = [k for k in first if all(k in v for v in seeds.values())]
    # an item whose gold the grader cannot read (in any seed) is left out of every estimate
    bad = {k for k in common for v in seeds.values() if any(x.status == "bad_gold" for _, x in v[k])}
    keep = [k for k in common if k not in bad]
    tables = {s: item_table([[x for _, x in v[k]] for k in keep], equal) for s, v in seeds.items()}
    pooled = item_table([[x for v in seeds.values() for _, x in v[k]] for k in keep], equal)
    for table in (*tables.values(), pooled):
        table["bad_gold"] = len(bad)
    big_k = min(t["n"] for t in tables.values()) if pooled["items"] else 0
    out = _pct_table(pooled)
    out["n"] = big_k
    out["seeds"] = len(tables)
    out["pass@k"] = {str(k): _p(pooled["pass@k"][k]) for k in range(1, big_k + 1)}
    out["maj@k"] = {
        str(k): _p(statistics.fmean(t["maj@k"][k] for t in tables.values())) for k in range(1, big_k + 1)
    }
    if len(tables) > 1:
        out["per_seed"] = {str(s): _pct_table(t) for s, t in tables.items()}
    return out


def average_estimates(entries: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The mean of benchmarks' estimates; SE = sqrt(sum SE_b^2) / B (independent benchmarks)."""
    if not entries or any(e["accuracy"] is None for e in entries):
        return None
    ses = [e["se"] for e in entries]
    big_k = min(e["n"] for e in entries)

    def mean(key: str, k: int) -> float:
        return round(statistics.fmean(e[key][str(k)] for e in entries), 4)

    return {
        "items": sum(e["items"] for e in entries),
        "n": big_k,
        "accuracy": round(statistics.fmean(e["accuracy"] for e in entries), 4),
        "se": None if None in ses else round(math.sqrt(sum(s * s for s in ses)) / len(ses), 4),
        "pass@k": {str(k): mean("pass@k", k) for k in range(1, big_k + 1)},
        "maj@k": {str(k): mean("maj@k", k) for k in range(1, big_k + 1)},
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
    known = registry.names()
    order = [b for b in known if b in groups] + sorted(set(groups) - set(known))
    benchmarks: dict[str, Any] = {}
    for bench in order:
        per_seed: dict[str, float] = {}
        counts = dict.fromkeys(STATUSES, 0)
        levels: dict[str, list[tuple[Any, str]]] = {}
        domains: dict[str, list[tuple[Any, str]]] = {}
        items = 0
        by_level = bench in registry.BENCHMARKS and registry.BENCHMARKS[bench].by_level
        for seed, idx in sorted(groups[bench].items()):
            pairs = [(cols["correct"][i], cols["grade_status"][i]) for i in idx]
            _, acc = _acc(pairs)
            if acc is not None:
                per_seed[str(seed)] = acc
            items = len({cols["id"][i] for i in idx}) if cols.get("id") else len(idx)
            for i, pair in zip(idx, pairs, strict=True):
                counts[pair[1]] = counts.get(pair[1], 0) + 1
                if by_level:
                    levels.setdefault(str(get["level"][i]), []).append(pair)
                    domains.setdefault(str(get["domain"][i]), []).append(pair)
        entry: dict[str, Any] = {
            "label": registry.label(bench),
            "n": items,
            **_spread(list(per_seed.values())),
            "per_seed": per_seed,
            "counts": counts,
            "reported": (reported or {}).get(bench),
            "estimates": benchmark_estimates(cols, groups[bench], bench),
        }
        if levels:
            entry["by_level"] = {
                k: dict(zip(("n", "accuracy"), _acc(v), strict=True)) for k, v in sorted(levels.items())
            }
            entry["by_domain"] = {
                k: dict(zip(("n", "accuracy"), _acc(v), strict=True)) for k, v in sorted(domains.items())
            }
        benchmarks[bench] = entry
    six = registry.averaged()
    present = [b for b in six if b in benchmarks]
    seeds = sorted({s for b in present for s in benchmarks[b]["per_seed"]}, key=int)
    avg_per_seed = {
        s: round(statistics.fmean(benchmarks[b]["per_seed"][s] for b in present), 4)
        for s in seeds
        if all(s in benchmarks[b]["per_seed"] for b in present)
    }
    average = {
        "benchmarks": present,
        "complete": len(present) == len(six),
        **_spread(list(avg_per_seed.values())),
        "per_seed": avg_per_seed,
        "reported": (reported or {}).get("average") if len(present) == len(six) else None,
        "estimates": average_estimates([benchmarks[b]["estimates"] for b in present]),
    }
    return {"benchmarks": benchmarks, "average": average}


def _fmt(x: float | None, std: float | None = None) -> str:
    if x is None:
        return "–"
    return f"{x:.1f} ± {std:.1f}" if std else f"{x:.1f}"


def shown_ks(n: int) -> list[int]:
    """The k of pass@k / maj@k shown in tables: all up to 8, else powers of two and n."""
    if n <= 8:
        return list(range(1, n + 1))
    return sorted({2**i for i in range(n.bit_length()) if 2**i <= n} | {n})


def estimates_markdown(results: dict[str, Any]) -> str | None:
    """The table of accuracy ± SE (items as the unit), pass@k and maj@k, or None."""
    rows = [(b["label"], b.get("estimates")) for b in results["benchmarks"].values()]
    avg = results["average"]
    if avg.get("estimates"):
        label = "**Average**" if avg["complete"] else f"Average ({len(avg['benchmarks'])} of 6)"
        rows.append((label, avg["estimates"]))
    rows = [(label, e) for label, e in rows if e]
    if not rows:
        return None
    n = min(e["n"] for _, e in rows)
    seeds = results.get("settings", {}).get("seeds") or [0]
    ks = shown_ks(n) if n > 1 else []
    head = "| benchmark | items | accuracy ± SE |"
    head += "".join(f" pass@{k} |" for k in ks) + "".join(f" maj@{k} |" for k in ks)
    lines = [head, "|---|---:|---:|" + "---:|" * (2 * len(ks))]
    for label, e in rows:
        cells = [label, str(e["items"]), _fmt(e["accuracy"], e["se"])]
        cells += [_fmt(e["pass@k"].get(str(k))) for k in ks]
        cells += [_fmt(e["maj@k"].get(str(k))) for k in ks]
        lines.append("| " + " | ".join(cells) + " |")
    what = (
        f"{n} samples per item" + (f" per seed, {len(seeds)} seeds" if len(seeds) > 1 else "")
        if n > 1
        else ("1 sample per item" + (f" per seed, {len(seeds)} seeds" if len(seeds) > 1 else ""))
    )
    intro = (
        f"Items as the unit ({what}): accuracy is the mean of each item's mean correctness, "
        "± its standard error (sd of the per-item means / sqrt(items))"
    )
    if ks:
        several = len(seeds) > 1
        intro += (
            "; pass@k is the unbiased estimate 1 - C(n-c, k)/C(n, k)"
            + (" (samples pooled over seeds)" if several else "")
            + "; maj@k is the vote of an item's first k samples (only `ok` samples vote: "
            "`no_answer`, `hedge`, `truncated`, `timeout` and `error` abstain; answers the "
            "grader finds equal are one vote; a tie goes to the answer voted first; no vote is "
            "wrong" + ("; mean over seeds)" if several else ")")
        )
    return intro + ".\n\n" + "\n".join(lines)


def protocol(settings: dict[str, Any], provenance: dict[str, Any], grader: dict[str, Any]) -> dict[str, Any]:
    """Everything that changes an answer of `dart-hf eval`, in one mapping (for results.json,
    results.md and the card): engine and version, dtype, parallel sizes, batching, seeds, n,
    sampling, template, max tokens, grader version."""
    engine = settings.get("engine") or {}
    options = dict(engine.get("options") or {})
    batch = {"shard_size": settings.get("shard_size")}
    if settings.get("stream") is False:
        batch["stream"] = False  # one blocking call per shard
    if settings.get("max_in_flight") is not None:
        batch["max_in_flight"] = settings["max_in_flight"]
    for key in ("max_num_seqs", "batch_size", "gpu_memory_utilization", "enforce_eager"):
        if key in options:
            batch[key] = options[key]
    return {
        "engine": provenance.get("engine") or engine.get("backend"),
        "engine_version": provenance.get("engine_version"),
        "model": provenance.get("model") or engine.get("model"),
        "model_hash": provenance.get("model_hash"),
        "dtype": engine.get("dtype"),
        "max_model_len": engine.get("max_model_len"),
        "tensor_parallel_size": options.get("tensor_parallel_size", 1),
        "data_parallel_size": options.get("data_parallel_size", 1),
        "batch": batch,
        "seeds": list(settings.get("seeds") or []),
        "n": settings.get("n", 1),
        "temperature": settings.get("temperature"),
        "top_p": settings.get("top_p"),
        "template": settings.get("template"),
        "n_shots": settings.get("n_shots_used"),
        "max_tokens": settings.get("max_tokens"),
        "seeding": settings.get("seeding"),
        "grader": {k: grader.get(k) for k in ("name", "version", "grade_version")},
    }


def protocol_markdown(p: dict[str, Any]) -> str:
    """The protocol record as a two-column Markdown table."""
    g = p["grader"]
    batch = ", ".join(f"{k} {v}" for k, v in p["batch"].items())
    shots = ", ".join(f"{registry.label(b)} {k}" for b, k in (p.get("n_shots") or {}).items() if k)
    rows = [
        ("engine", f"{p['engine']} {p['engine_version'] or ''}".strip()),
        ("model", f"`{p['model']}` (folder hash `{p['model_hash'] or '–'}`)"),
        ("dtype", p["dtype"]),
        ("tensor / data parallel size", f"{p['tensor_parallel_size']} / {p['data_parallel_size']}"),
        ("batching", batch),
        ("max model length", p["max_model_len"]),
        (
            "seeds",
            ", ".join(str(s) for s in p["seeds"])
            + (f" (engine seeded {p['seeding']})" if p.get("seeding") else ""),
        ),
        ("samples per item (n)", p["n"]),
        ("temperature / top_p", f"{p['temperature']} / {p['top_p']}"),
        ("prompt template", f"`{p['template']}`" + (f" (shots: {shots})" if shots else "")),
        ("max new tokens", p["max_tokens"]),
        ("grader", f"{g['name']} {g['version']} (grade version {g['grade_version']})"),
    ]
    return "| setting | value |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)


def results_markdown(results: dict[str, Any], *, with_protocol: bool = True) -> str:
    """The results as Markdown tables (accuracy in %, the paper's figures beside them), the
    estimates over items (accuracy ± SE, pass@k, maj@k) and, unless `with_protocol` is
    False (the card has its own settings table), what changes an answer."""
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
        lines.append(f"| {label} | | {_fmt(avg['accuracy'], avg['std'])} | {_fmt(avg['reported'])} | | | | |")
    out = ["\n".join(lines)]
    n = int(results.get("settings", {}).get("n") or 1)
    if n > 1:
        out[0] += (
            f"\n\nn counts items; accuracy is over all responses ({n} per item and seed), and "
            "no_answer, timeout, truncated and bad_gold count responses."
        )
    pooled = "pooled over seeds" + (" and responses" if n > 1 else "")
    for b in bench.values():
        if "by_level" in b:
            for key, title in (("by_level", "level"), ("by_domain", "subject")):
                rows = [f"| {title} | n | accuracy |", "|---|---:|---:|"]
                rows += [f"| {k} | {v['n']} | {_fmt(v['accuracy'])} |" for k, v in b[key].items()]
                out.append(f"{b['label']} by {title} ({pooled}):\n\n" + "\n".join(rows))
    estimates = estimates_markdown(results)
    if estimates:
        out.insert(1, estimates)
    if with_protocol and results.get("protocol"):
        out.append("What changes an answer:\n\n" + protocol_markdown(results["protocol"]))
    return "\n\n".join(out) + "\n"


# --------------------------------------------------------------------------- card


def render_card(results: dict[str, Any], plot: str | None = None) -> str:
    """The body of the evaluation-results card (`dataset_cards/eval.md.j2`); `plot` is the
    relative path of its figure. The YAML header is written by `write_eval_card`."""
    context = {
        "r": results,
        "table": results_markdown(results, with_protocol=False),
        "labels": {b: registry.label(b) for b in (*registry.names(), *results.get("benchmarks", {}))},
        "protocol": results.get("protocol") or {},
        "plot": plot,
    }
    return render_template("eval.md.j2", context)


def write_eval_card(folder: Path, results: dict[str, Any], *, rows: int) -> None:
    """Write the predictions dataset's README: metadata through `DatasetCardData` (kept with
    the `configs`/`dataset_info` already there), the accuracy figure and the card body."""
    drawn = plot_eval_accuracy(results, Path(folder) / IMAGES_DIR / EVAL_PLOT)
    body = render_card(results, f"{IMAGES_DIR}/{EVAL_PLOT}" if drawn else None)
    save_card(
        Path(folder),
        body,
        pretty_name=f"Evaluation of {results.get('model')} with dart-hf",
        language=["en"],
        license="other",
        license_name="per-benchmark",
        task_categories=["text-generation"],
        size_categories=[size_category(rows)],
        tags=["mathematics", "evaluation", "dart-math", "dart-hf"],
    )
