"""Dataset cards generated from a build's `stats.json` (Jinja templates in `dataset_cards/`).

`write_card` renders one release's card into a `huggingface_hub.DatasetCard`, keeps the
`configs` / `dataset_info` YAML that `hub.write_hub_folder` wrote, draws the plots into
`images/`, and writes README.md. `render_template` is the generic renderer (the evaluation
card uses it); `save_card` writes any body with merged YAML.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from huggingface_hub import DatasetCard

from dart_hf.build import plots, schema
from dart_hf.build.stats import BuildStats, StrategyStats, YieldRule
from dart_hf.errors import DartError, unknown_name
from dart_hf.hub import folder as hub
from dart_hf.hub import images
from dart_hf.hub.cards import fmt_pct, render_template, save_card, scrub_secrets, size_category
from dart_hf.sampling import prompts
from dart_hf.strategies import POOL, STRATEGIES

"""Recipe keys dropped before a card shows them (`hf_token`, not `max_tokens`)."""
RUN_WIDE = ("max_trials", "budget")
"""Settings shared by every strategy of a build: shown once, not as strategy parameters."""
PAPER_MEAN_RESPONSES = {
    s.card: list(s.paper_mean_responses) for s in STRATEGIES.values() if s.paper_mean_responses
}
"""The paper's released figures by card kind (the registered strategies' at import)."""
DART_SUMMARY = (
    "Rejection tuning builds math SFT data by sampling solutions from a model and keeping the "
    "correct ones, but sampling every question equally leaves hard questions with few or no "
    "correct answers. DART (difficulty-aware rejection tuning, Tong et al., NeurIPS 2024) "
    "spends more samples on harder questions, so every question reaches a target number of "
    "correct responses (Uniform) or a target that grows with its difficulty (Prop2Diff)."
)
CITATION = """@article{tong2024dartmath,
  title={DART-Math: Difficulty-Aware Rejection Tuning for Mathematical Problem-Solving},
  author={Yuxuan Tong and Xiwen Zhang and Rui Wang and Ruidong Wu and Junxian He},
  year={2024},
  eprint={2407.13690},
  archivePrefix={arXiv},
  primaryClass={cs.CL},
  url={https://arxiv.org/abs/2407.13690},
}"""


@dataclass(frozen=True)
class CardKind:
    """One kind of release card.

    Attributes:
        template: File in `dataset_cards/`.
        pretty_name: Card title and `pretty_name` metadata.
        strategies: Keys of `stats.strategies` tried in order when none is given (then the
            kind itself).
        paper_name: The paper's released set shown beside the per-level table, or None.
        paper_means: Its mean responses per query, L0-L5, or None.
        description: The strategy in a sentence (the generic `strategy.md.j2` card shows it).
    """

    template: str
    pretty_name: str
    strategies: tuple[str, ...]
    paper_name: str | None = None
    paper_means: tuple[float, ...] | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if not self.template.endswith(".md.j2"):
            raise DartError(f"card template {self.template!r} must end with .md.j2")


POOL_CARD = CardKind("pool.md.j2", "DART-Math raw sample pool (dart-hf)", ())


def card_kinds() -> dict[str, CardKind]:
    """Every card kind: one per strategy in `strategies.STRATEGIES` (its `card`), and `pool`."""
    kinds = {
        s.card: CardKind(
            s.card_template, s.pretty_name, (s.name,), s.paper_name, s.paper_mean_responses, s.description
        )
        for s in STRATEGIES.values()
    }
    return {**kinds, POOL: POOL_CARD}


def stop_rule(rule: YieldRule) -> str:
    """The stop rule in words, from the build's `yield_rule` statistics."""
    per = f"per {rule.horizon:,} further samples"
    if rule.min_yield is None:
        spread = (
            f"{rule.price_median:.3g}"
            if rule.price_min == rule.price_max
            else f"{rule.price_median:.3g} (median; {rule.price_min:.3g} to {rule.price_max:.3g})"
        )
        text = (
            f"a query keeps sampling while it expects more new correct responses {per} "
            f"than a price set every round so that at most {fmt_pct(rule.row_loss)} of the "
            f"rows a run to max_trials would keep are given up (expected); queries were "
            f"stopped below target at {spread} {per}"
        )
    else:
        text = (
            f"a query keeps sampling while it expects at least {rule.min_yield:g} new correct responses {per}"
        )
    if rule.no_correct_stop:
        if rule.first_value is None:
            text += (
                "; a query with none keeps sampling while its chance of a first one, valued "
                f"so that each level keeps all but {fmt_pct(rule.coverage_loss)} of the "
                "coverage a run to max_trials would give (expected), is worth the price"
            )
        else:
            text += f"; a first correct response counts {rule.first_value:g} times the query's target"
        rows = [r for r in rule.prior_per_level if r.no_correct]
        if rows:
            text += (
                " (stopped with none: "
                + ", ".join(
                    f"{'no level' if r.level is None else f'level {r.level}'} {r.no_correct:,} "
                    f"after a median {r.no_correct_samples:,} samples"
                    + (f", a first one worth {r.first_rows:,.0f} rows" if r.first_rows else "")
                    for r in rows
                )
                + ")"
            )
    else:
        text += "; a query with no correct response is never stopped by this rule"
    prior = rule.stated_prior
    text += (
        f" (pass-rate prior: {fmt_pct(prior.zero)} never solvable, else "
        f"Beta({prior.a}, {prior.b})" + (", fitted per level to this pool" if rule.prior_fit else "") + ")"
    )
    return text


def resolve_strategy(kind: str, stats: BuildStats, strategy: str | None) -> str | None:
    """The `stats.strategies` key a card describes (None for the pool card)."""
    spec = card_kinds()[kind]
    available = stats.strategies
    if strategy is not None:
        if strategy not in available:
            raise unknown_name("strategy in stats", strategy, available)
        return strategy
    if not spec.strategies:
        return None
    for name in (*spec.strategies, kind):
        if name in available:
            return name
    raise DartError(
        f"stats has no strategy for a {kind!r} card (tried {', '.join(spec.strategies)}); "
        f"available: {', '.join(available) or 'none'}"
    )


def level_rows(strat: StrategyStats, paper: tuple[float, ...] | list[float] | None) -> list[dict[str, Any]]:
    """Per-level table rows of one strategy, with the paper's figures (L0-L5) where given."""
    rows = []
    for row in sorted(strat.per_level, key=lambda r: (r.level is None, r.level or 0)):
        lv = row.level
        in_paper = paper is not None and lv is not None and 0 <= lv <= 5
        rows.append(
            {
                **asdict(row),
                "label": images.level_label(lv),
                "paper_mean": paper[lv] if in_paper else None,  # type: ignore[index]
                "metamath_coverage": (
                    plots.METAMATHQA_COVERAGE[lv - 1] / 100 if lv and 1 <= lv <= 5 else None
                ),
            }
        )
    return rows


def empty_reason(stats: BuildStats, kind: str, rows: int) -> str | None:
    """Why a release holds no rows, in words for its card (None when it has rows)."""
    if rows:
        return None
    t = stats.totals
    if t.raw_samples == 0:
        if t.failed_requests:
            return f"every one of the {t.failed_requests:,} requests to the engine failed"
        return "no raw sample was drawn"
    if kind == POOL:
        return None
    gm = stats.gold_majority
    if gm is not None and not gm.counts.get("answer") and not gm.counts.get("majority"):
        return (
            f"no query has a gold answer: the vote (`gold: {gm.gold}`) found no clear majority "
            f"among any query's samples, so all {t.queries:,} queries were left out "
            "(`no_majority`)"
        )
    if t.correct_samples == 0 and t.truncated_samples == t.raw_samples:
        return (
            f"every one of the {t.raw_samples:,} raw samples was cut off at `max_tokens` "
            f"({stats.sampling.get('max_tokens')}), and a truncated response counts as wrong; "
            "raise `max_tokens`"
        )
    if t.correct_samples == 0:
        cut = f", {t.truncated_samples:,} of them cut off at `max_tokens`" if t.truncated_samples else ""
        return f"no raw sample was graded correct ({t.raw_samples:,} raw samples{cut})"
    return (
        f"none of the {t.correct_samples:,} correct samples was selected: the filters and "
        "decontamination removed them (see the counts below)"
    )


def run_params(params: dict[str, Any]) -> dict[str, Any]:
    """A strategy's parameters without the run-wide settings (`RUN_WIDE`, shown once)."""
    return {k: v for k, v in params.items() if k not in RUN_WIDE}


def _columns(card: DatasetCard | None, extra_docs: dict[str, str]) -> list[dict[str, str]]:
    """Every config's columns with their meanings: `extra_docs`, else the release schema's."""
    if card is None:
        return []
    infos = card.data.to_dict().get("dataset_info") or []
    if isinstance(infos, dict):
        infos = [infos]
    out = []
    for info in infos:
        config = info.get("config_name", hub.DEFAULT_CONFIG)
        for feat in info.get("features", []):
            name = feat.get("name", "")
            dtype = feat.get("dtype") or ("list" if "list" in feat else "struct")
            declared = config if config in schema.CONFIGS else schema.RELEASE
            meaning = extra_docs.get(name) or schema.meaning(declared, name)
            out.append({"config": config, "name": name, "dtype": str(dtype), "meaning": meaning})
    return out


def _prompt(sampling: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """The prompt template's text, whether it goes through the chat template, its stops."""
    if extra.get("prompt_template"):
        return {"text": str(extra["prompt_template"]), "chat": False, "stop": []}
    tpl: Any = prompts.TEMPLATES.get(sampling["template"])
    text = tpl if isinstance(tpl, str) else getattr(tpl, "text", None)
    return {
        "text": text if isinstance(text, str) else None,
        "chat": bool(getattr(tpl, "chat", False)),
        "stop": list(getattr(tpl, "stop", ()) or ()),
    }


def as_stats(stats: BuildStats | Mapping[str, Any]) -> BuildStats:
    """The typed statistics, from themselves or from `stats.json`'s mapping."""
    return stats if isinstance(stats, BuildStats) else BuildStats.from_dict(stats)


def card_context(
    folder: Path,
    kind: str,
    stats: BuildStats | Mapping[str, Any],
    *,
    strategy: str | None = None,
    extra: dict[str, Any] | None = None,
    plot_paths: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Everything a card template sees (also handy for tests).

    Templates get the plain (`to_dict`) form of each part of the statistics; every setting a
    card shows comes from one place: the run-wide DARS settings from `stats.dars`, a
    strategy's from its `params`, sampling from `stats.sampling`.
    """
    kinds = card_kinds()
    if kind not in kinds:
        raise unknown_name("card kind", kind, kinds)
    stats = as_stats(stats)
    plain = stats.to_dict()
    extra = dict(extra or {})
    spec = kinds[kind]
    name = resolve_strategy(kind, stats, strategy)
    strat = stats.strategies[name] if name else None
    existing = hub.read_card(folder)
    rows = strat.rows if strat is not None and kind != POOL else stats.totals.raw_samples
    repo_id = extra.get("repo_id") or f"<org>/{Path(folder).resolve().name}"
    params = run_params(strat.params) if strat is not None else {}
    return {
        "kind": kind,
        "pretty_name": extra.get("pretty_name", spec.pretty_name),
        "repo_id": repo_id,
        "strategy": name,
        "s": strat.to_dict() if strat is not None else {},
        "params": params,
        "normalize": params.get("normalize_fail_rate"),  # a Prop2Diff parameter
        "rows": rows,
        "empty_reason": empty_reason(stats, kind, rows),
        "dars": {
            "max_trials": stats.dars.max_trials,
            "budget": stats.dars.budget,
            "stop_rule": stop_rule(stats.yield_rule),
        },
        "yield_rule": plain["yield_rule"],
        "stops_per_level": [
            {**row.to_dict(), "label": images.level_label(row.level)} for row in stats.stop_reasons_per_level
        ],
        "budget_short": sum(r.budget_short for r in strat.per_level) if strat else 0,
        "recipe": scrub_secrets(stats.recipe),
        "model": plain["model"],
        "engine": plain["engine"],
        "stream": plain.get("stream"),
        "sampling": plain["sampling"],
        "grader": plain["grader"],
        "totals": plain["totals"],
        "stop_reasons": plain["stop_reasons"],
        "gold_audit": plain["gold_audit"],
        "gold_majority": plain["gold_majority"] if stats.gold_majority is not None else None,
        "fail_rate": plain["fail_rate"],
        "strategies": plain["strategies"],
        "level_rows": level_rows(strat, spec.paper_means) if strat is not None else [],
        "strategy_rows": {k: level_rows(v, None) for k, v in stats.strategies.items()},
        "strategy_params": {k: run_params(v.params) for k, v in stats.strategies.items()},
        "paper": spec.paper_name,
        "description": spec.description,
        "prompt": _prompt(stats.sampling, extra),
        "columns": _columns(existing, extra.get("column_docs", {})),
        "release_schema": schema.RELEASE_SCHEMA_VERSION,
        "configs": [c.get("config_name") for c in _configs(existing)],
        "plots": plot_paths or {},
        "summary": DART_SUMMARY,
        "citation": CITATION,
        "license": extra.get("license", "mit"),
        "extra": extra,
    }


def _configs(card: DatasetCard | None) -> list[dict[str, Any]]:
    if card is None:
        return []
    return list(card.data.to_dict().get("configs") or [])


def write_card(
    folder: Path,
    kind: str,
    stats: BuildStats | Mapping[str, Any],
    *,
    strategy: str | None = None,
    extra: dict[str, Any] | None = None,
) -> DatasetCard:
    """Render a release card into `folder/README.md` and its plots into `folder/images/`.

    Call after `hub.write_hub_folder` (the card keeps that YAML and lists the columns from it).

    Args:
        folder: The staged release folder.
        kind: One of `card_kinds()` (uniform, hard, vrt: each strategy's `card`; and pool).
        stats: The build's statistics, or `stats.json` as read (DESIGN.md "Statistics").
        strategy: Key of `stats.strategies` to describe; default from the kind.
        extra: Optional overrides: `repo_id`, `pretty_name`, `license`, `prompt_template`,
            `column_docs` (column -> meaning), `tags` (added), `notes` (markdown appended).

    Returns:
        The written card.

    Raises:
        DartError: Unknown kind or strategy, or stats missing a part (naming it).
    """
    folder = Path(folder)
    extra = dict(extra or {})
    stats = as_stats(stats)
    # render first (bad kind/strategy/stats fail fast), then draw the plots the body embeds
    plot_paths = {k: f"{plots.IMAGES_DIR}/{name}" for k, name in plots.PLOT_FILES.items()}
    context = card_context(folder, kind, stats, strategy=strategy, extra=extra, plot_paths=plot_paths)
    body = render_template(card_kinds()[kind].template, context)
    plots.write_plots(stats, folder)
    tags = ["math", "synthetic", "rejection-sampling", "dart-math", *extra.get("tags", [])]
    return save_card(
        folder,
        body,
        license=context["license"],
        task_categories=["text-generation", "question-answering"],
        language=["en"],
        size_categories=[size_category(context["rows"])],
        pretty_name=context["pretty_name"],
        tags=list(dict.fromkeys(tags)),
    )
