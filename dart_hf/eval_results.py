"""The results of `dart-hf eval`: accuracy tables, the paper's figures beside them, the card.

`summarize_predictions` turns a predictions table (one row per item and seed, graded) into
the results mapping that `results.json` holds; `results_markdown` and `render_card` show it.
Accuracy is correct / items whose gold answer parses; `bad_gold` items are counted apart.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from datasets import Dataset

from dart_hf.answers import STATUSES

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
