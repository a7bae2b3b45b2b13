"""Dataset cards: YAML that round-trips and matches the staged data, unusual parameters shown
exactly, and per-level table cells equal to values recomputed from the released rows."""

from __future__ import annotations

import json
import math
import random
import re
from collections import Counter
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import pytest
from datasets import Dataset, Features, load_dataset
from huggingface_hub import DatasetCard, DatasetCardData

from dart_hf.build import cards, stats
from dart_hf.config import DarsConfig
from dart_hf.errors import DartError
from dart_hf.hub import cards as hub_cards
from dart_hf.hub import folder as hub

K_U, K_P, BUDGET, MAX_TRIALS = 3, 7, 1234, 48


def _build(seed: int = 0, n: int = 36) -> dict[str, Any]:
    """A small synthetic DARS outcome: a query table and kept rows for Uniform and Prop2Diff."""
    rng = random.Random(seed)
    queries = []
    for i in range(n):
        samples = rng.randint(8, MAX_TRIALS)
        corrects = rng.choice([0, rng.randint(0, samples)]) if i % 5 == 0 else rng.randint(1, samples)
        fail = 1 - corrects / samples
        queries.append(
            {
                "id": f"q{i}",
                "level": i % 6,
                "query": f"question {i}",
                "samples": samples,
                "corrects": corrects,
                "fail_rate": fail,
                "target_uniform": K_U,
                "target_prop2diff": max(1, math.ceil(K_P * fail)),
            }
        )
    releases = {}
    for strat in ("uniform", "prop2diff"):
        rows: dict[str, list] = {"id": [], "query": [], "response": [], "level": []}
        for q in queries:
            for j in range(min(q["corrects"], q[f"target_{strat}"])):
                rows["id"].append(q["id"])
                rows["query"].append(q["query"])
                rows["response"].append(f"answer {j} to {q['id']} \\boxed{{{j}}}")
                rows["level"].append(q["level"])
        releases[strat] = Dataset.from_dict(rows)
    return {"queries": queries, "releases": releases}


def _per_level(queries: list[dict], kept: Counter, strat: str) -> list[dict]:
    out = []
    for lv in sorted({q["level"] for q in queries}):
        qs = [q for q in queries if q["level"] == lv]
        out.append(
            {
                "level": lv,
                "queries": len(qs),
                "mean_responses": sum(kept[q["id"]] for q in qs) / len(qs),
                "coverage": sum(kept[q["id"]] > 0 for q in qs) / len(qs),
                "share_at_target": sum(kept[q["id"]] >= q[f"target_{strat}"] for q in qs) / len(qs),
                "no_correct": sum(kept[q["id"]] == 0 for q in qs),
                "below_target": sum(0 < kept[q["id"]] < q[f"target_{strat}"] for q in qs),
                "budget_short": 0,
            }
        )
    return out


def _stats(build: dict[str, Any]) -> dict[str, Any]:
    """Stats in the DESIGN.md schema, computed from the synthetic data."""
    qs = build["queries"]
    strategies = {}
    run_wide = {"max_trials": MAX_TRIALS, "budget": BUDGET}
    config = DarsConfig(
        strategies=("uniform", "prop2diff"),
        k_u=K_U,
        k_p=K_P,
        **run_wide,
        no_correct_min_samples=16,
    )
    dars = asdict(config) | {"strategies": list(config.strategies)}
    for strat, params in (
        ("uniform", {"k_u": K_U, **run_wide}),
        ("prop2diff", {"k_p": K_P, "normalize_fail_rate": False, **run_wide}),
    ):
        ds = build["releases"][strat]
        strategies[strat] = {
            "params": params,
            "rows": len(ds),
            "filters": {
                "duplicate": 5,
                "multiple_boxed": 1,
                "repetition": 2,
                "non_ascii_answer": 0,
            },
            "decontaminated_queries": 3,
            "per_level": _per_level(qs, Counter(ds["id"]), strat),
        }
    return {
        "recipe": {"pool": ["gsm8k", "math"], **dars, "hub_token": "hf_should_never_show"},
        "dars": dars,
        "model": {
            "model": "HuggingFaceTB/SmolLM2-135M-Instruct",
            "model_hash": "deadbeef42",
            "revision": "main",
        },
        "engine": {"engine": "vllm", "engine_version": "0.32.0"},
        "sampling": {
            "temperature": 1.6,
            "top_p": 0.95,
            "max_tokens": 96,
            "template": "deepseekmath",
        },
        "grader": {"name": "math-verify", "version": "0.9.0", "grade_version": "1"},
        "totals": {
            "queries": len(qs),
            "raw_samples": sum(q["samples"] for q in qs),
            "correct_samples": sum(q["corrects"] for q in qs),
            "tokens": 987654,
            "wall_time_s": 4321.0,
            "rounds": 4,
        },
        "stop_reasons": {"reached": 20, "max_trials": 9, "budget": 4, "no_correct": 3},
        "stop_reasons_per_level": [],
        "yield_rule": {
            "min_yield": None,
            "first_value": None,
            "row_loss": 0.005,
            "coverage_loss": 0.005,
            "price_min": 1.2,
            "price_median": 2.5,
            "price_max": 6.0,
            "horizon": 1000,
            "prior_fit": True,
            "stated_prior": {"zero": 0.1, "a": 0.5, "b": 0.5},
            "prior_per_level": [],
            "no_correct_stop": True,
        },
        "fail_rate": {
            "phase_samples": 8,
            "from": None,
            "histogram": {"edges": [0, 0.5, 1.0], "counts": [10, 26]},
        },
        "strategies": strategies,
        "gold_audit": None,
    }


def _stage(tmp_path: Path, kind: str, strat: str, build: dict, stats: dict) -> tuple[Path, DatasetCard]:
    folder = tmp_path / kind
    hub.write_hub_folder({"default": build["releases"][strat]}, folder)
    card = cards.write_card(folder, kind, stats, extra={"repo_id": f"dart-org/{kind}"})
    return folder, card


def _level_table(text: str) -> dict[str, list[str]]:
    section = text.split("## Responses per level", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        if re.match(r"^\| L\d", line):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[cells[0]] = cells[1:]
    return rows


@pytest.mark.parametrize(("kind", "strat"), [("uniform", "uniform"), ("hard", "prop2diff")])
def test_table_cells_equal_values_recomputed_from_the_released_rows(
    tmp_path: Path, kind: str, strat: str
) -> None:
    build = _build()
    folder, card = _stage(tmp_path, kind, strat, build, _stats(build))
    released = load_dataset(str(folder), split="train")
    kept = Counter(released["id"])
    table = _level_table(card.text)
    assert len(table) == 6
    paper = cards.PAPER_MEAN_RESPONSES[kind]
    for lv in range(6):
        qs = [q for q in build["queries"] if q["level"] == lv]
        mean = sum(kept[q["id"]] for q in qs) / len(qs)
        coverage = sum(kept[q["id"]] > 0 for q in qs) / len(qs)
        at_target = sum(kept[q["id"]] >= q[f"target_{strat}"] for q in qs) / len(qs)
        label = "L0 (GSM8K)" if lv == 0 else f"L{lv}"
        metamath = "n/a" if lv == 0 else f"{[98.1, 93.6, 86.7, 76.6, 48.9][lv - 1]:.1f}%"
        assert table[label] == [
            str(len(qs)),
            f"{mean:.2f}",
            f"{paper[lv]:.2f}",
            f"{100 * coverage:.1f}%",
            metamath,
            f"{100 * at_target:.1f}%",
            str(sum(kept[q["id"]] == 0 for q in qs)),
            str(sum(0 < kept[q["id"]] < q[f"target_{strat}"] for q in qs)),
        ]
    assert f"{len(released):,} (query, response) pairs" in card.text


def test_unusual_parameters_are_shown_exactly(tmp_path: Path) -> None:
    build = _build()
    stats = _stats(build)
    _, uni = _stage(tmp_path, "uniform", "uniform", build, stats)
    _, hard = _stage(tmp_path, "hard", "prop2diff", build, stats)
    assert "**Strategy:** `uniform`, with `k_u = 3`." in uni.text
    assert "`k_u = 3`, sampling more raw responses" in uni.text
    assert "| `k_u` | 3 |" in uni.text
    assert "**Strategy:** `prop2diff`, with `k_p = 7`, `normalize_fail_rate = False`." in hard.text
    assert "with `k_p = 7` and\nfail rates not normalised" in hard.text
    for card in (uni, hard):
        text = card.text
        assert f"| `max_trials` (raw samples per query at most) | {MAX_TRIALS} |" in text
        assert f"| `budget` (raw samples in total at most) | {BUDGET} |" in text
        assert (
            "| stop rule | a query keeps sampling while it expects more new correct responses "
            "per 1,000 further samples than a price set every round so that at most 0.5% of the "
            "rows a run to max_trials would keep are given up (expected); queries were stopped "
            "below target at 2.5 (median; 1.2 to 6) per 1,000 further samples; a query with "
            "none keeps sampling while its chance of a first one, valued so that each level "
            "keeps all but 0.5% of the coverage a run to max_trials would give (expected), is "
            "worth the price (pass-rate prior: 10.0% never solvable, else Beta(0.5, 0.5), "
            "fitted per level to this pool) |"
        ) in text
        assert "| fail-rate estimate | 8 samples per query (difficulty phase) |" in text
        assert "max_trials = " not in text and "budget = " not in text
        assert "| sampling | temperature 1.6, top_p 0.95, max 96 new tokens |" in text
        assert "| model folder hash | `deadbeef42` |" in text
        assert "Prompt template `deepseekmath`; generation stops at `User:`, `Assistant:`:" in text
        assert "```text\nUser: {query}\nPlease reason step by step" in text
        assert "| grader | math-verify 0.9.0 (grading stage version 1) |" in text
        assert f"| raw samples | {stats['totals']['raw_samples']:,} |" in text
        assert "| generated tokens | 987,654 |" in text
        assert "| wall time | 72.0 min |" in text
        assert "| `budget` | 4 |" in text and "| `no_correct` | 3 |" in text
        assert "| `duplicate` | 5 |" in text
        assert "| queries removed by decontamination | 3 |" in text
        assert 'load_dataset("dart-org/' in text
        assert "@article{tong2024dartmath" in text
        assert "hf_should_never_show" not in str(card)
    # the strategy parts name only their own parameter (the full recipe follows in <details>)
    assert "k_p" not in uni.text.split("<details>")[0]
    assert "k_u" not in hard.text.split("<details>")[0]
    assert "k_p: 7" in uni.text.split("<details>")[1]


def test_yaml_round_trips_and_matches_the_data(tmp_path: Path) -> None:
    build = _build()
    folder, card = _stage(tmp_path, "hard", "prop2diff", build, _stats(build))
    on_disk = DatasetCard((folder / "README.md").read_text(encoding="utf-8"))
    data = on_disk.data.to_dict()
    assert data == card.data.to_dict()
    assert DatasetCardData(**data).to_dict() == data
    assert DatasetCard(str(on_disk)).data.to_dict() == data
    assert data["license"] == "mit"
    assert data["task_categories"] == ["text-generation", "question-answering"]
    assert data["language"] == ["en"]
    assert data["size_categories"] == ["n<1K"]
    assert data["pretty_name"] == "DART-Math-Hard (dart-hf)"
    assert "dart-math" in data["tags"]
    loaded = load_dataset(str(folder), split="train")
    assert Features._from_yaml_list(data["dataset_info"]["features"]) == loaded.features
    assert data["dataset_info"]["splits"][0]["num_examples"] == len(loaded)
    assert hub.check_hub_folder(folder) == []
    for image in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", on_disk.text):
        assert (folder / image).read_bytes()[:4] == b"\x89PNG"
    assert len(re.findall(r"!\[", on_disk.text)) == 3
    columns = re.findall(r"^\| default \| `(\w+)` \| (\w+) \| (.+) \|$", on_disk.text, re.M)
    assert [(c, t) for c, t, _ in columns] == [
        ("id", "string"),
        ("query", "string"),
        ("response", "string"),
        ("level", "int64"),
    ]
    assert all(meaning for _, _, meaning in columns)


def test_rerendering_keeps_the_yaml(tmp_path: Path) -> None:
    build = _build()
    stats = _stats(build)
    folder, first = _stage(tmp_path, "uniform", "uniform", build, stats)
    text = (folder / "README.md").read_text().replace("license: mit", "license: mit\nextra_key: kept")
    (folder / "README.md").write_text(text)
    stats["totals"]["tokens"] = 5
    second = cards.write_card(folder, "uniform", stats)
    d1, d2 = first.data.to_dict(), second.data.to_dict()
    assert d2["configs"] == d1["configs"] and d2["dataset_info"] == d1["dataset_info"]
    assert d2["extra_key"] == "kept"
    assert "| generated tokens | 5 |" in second.text
    # staging again keeps the card body
    hub.write_hub_folder({"default": build["releases"]["uniform"]}, folder)
    assert DatasetCard((folder / "README.md").read_text()).text == second.text


def test_pool_and_vrt_cards(tmp_path: Path) -> None:
    build = _build()
    stats = _stats(build)
    stats["strategies"]["vrt"] = {
        **stats["strategies"]["uniform"],
        "params": {"vrt_n": 52, "max_trials": MAX_TRIALS, "budget": BUDGET},
    }
    pool = tmp_path / "pool"
    samples = build["releases"]["uniform"].add_column("correct", [True] * len(build["releases"]["uniform"]))
    hub.write_hub_folder({"samples": samples, "queries": Dataset.from_list(build["queries"])}, pool)
    card = cards.write_card(pool, "pool", stats)
    for name in ("uniform", "prop2diff", "vrt"):
        assert f"### `{name}`" in card.text
    assert "### `vrt` (vrt_n = 52)" in card.text
    assert "### `prop2diff` (k_p = 7, normalize_fail_rate = False)" in card.text
    assert "| queries | `fail_rate` | float64 | 1 - corrects / samples" in card.text
    assert (
        "| queries | `target_uniform` | int64 | target number of correct responses under "
        "`uniform` (VRT: raw samples) |" in card.text
    )
    assert 'samples = load_dataset("<org>/pool", "samples", split="train")' in card.text
    assert card.data.to_dict()["size_categories"] == ["1K<n<10K"]  # raw samples
    assert hub.check_hub_folder(pool) == []
    vrt_folder = tmp_path / "vrt"
    hub.write_hub_folder({"default": build["releases"]["uniform"]}, vrt_folder)
    vrt = cards.write_card(vrt_folder, "vrt", stats)
    assert "(`vrt_n = 52`, within `max_trials`)" in vrt.text
    assert "paper (" not in vrt.text


def test_errors_name_what_is_wrong(tmp_path: Path) -> None:
    build = _build()
    stats = _stats(build)
    with pytest.raises(DartError, match="unknown card kind 'easy'; valid: hard, pool, uniform, vrt"):
        cards.write_card(tmp_path, "easy", stats)
    with pytest.raises(DartError, match="unknown strategy in stats 'nope'; valid: prop2diff, uniform"):
        cards.write_card(tmp_path, "uniform", stats, strategy="nope")
    del stats["strategies"]["prop2diff"]
    with pytest.raises(DartError, match="no strategy for a 'hard' card"):
        cards.write_card(tmp_path, "hard", stats)
    del stats["strategies"]["uniform"]["filters"]
    with pytest.raises(DartError, match="stats strategies.uniform: missing filters"):
        cards.write_card(tmp_path, "uniform", stats)
    with pytest.raises(DartError, match="unknown card template 'nope.md.j2'; valid: .*uniform.md.j2"):
        hub_cards.render_template("nope.md.j2", {})


def test_render_template_is_generic(tmp_path: Path) -> None:
    assert hub_cards.template_dirs()
    text = hub_cards.render_template("_levels.md.j2", {})
    assert text.strip() == ""
    card = hub_cards.save_card(tmp_path, "# Hello\n", license="apache-2.0", tags=["x"])
    assert card.data.license == "apache-2.0"
    assert (tmp_path / "README.md").read_text().endswith("# Hello\n")


@pytest.mark.parametrize(
    ("value", "pct", "f2", "num"),
    [
        (0.9531, "95.3%", "0.95", "1.0"),
        (None, "n/a", "n/a", "n/a"),
        (1234.0, "123400.0%", "1234.00", "1,234"),
    ],
)
def test_formatters(value: float | None, pct: str, f2: str, num: str) -> None:
    assert hub_cards.fmt_pct(value) == pct
    assert hub_cards.fmt_f2(value) == f2
    assert hub_cards.fmt_num(value) == num


def test_stop_rule_in_words() -> None:
    rule = stats.YieldRule(
        min_yield=3.0,
        first_value=300.0,
        row_loss=0.005,
        coverage_loss=0.005,
        price_min=3.0,
        price_median=3.0,
        price_max=3.0,
        horizon=1000,
        prior_fit=True,
        stated_prior=stats.StatedPrior(zero=0.1, a=0.5, b=0.5),
        prior_per_level=(
            stats.PriorRow(
                level=5, zero=0.2, a=0.3, b=2.0, first_rows=1200.0, no_correct=7, no_correct_samples=512
            ),
            stats.PriorRow(
                level=0, zero=0.0, a=5.0, b=1.0, first_rows=None, no_correct=0, no_correct_samples=0
            ),
        ),
        no_correct_stop=True,
    )
    text = cards.stop_rule(rule)
    assert text.startswith("a query keeps sampling while it expects at least 3 new correct")
    assert "counts 300 times the query's target" in text
    assert "stopped with none: level 5 7 after a median 512 samples, a first one worth " in text
    assert "1,200 rows" in text and "level 0" not in text
    assert "10.0% never solvable, else Beta(0.5, 0.5), fitted per level" in text
    off = cards.stop_rule(replace(rule, no_correct_stop=False, prior_fit=False))
    assert "never stopped by this rule" in off and "fitted" not in off
    derived = cards.stop_rule(replace(rule, min_yield=None, first_value=None, price_min=1.5, price_max=6.0))
    assert "at most 0.5% of the rows a run to max_trials would keep" in derived
    assert "stopped below target at 3 (median; 1.5 to 6) per 1,000 further samples" in derived
    assert "all but 0.5% of the coverage" in derived


def test_scrub_secrets_keeps_ordinary_settings() -> None:
    recipe = {
        "max_tokens": 96,
        "hf_token": "x",
        "token": "x",
        "nested": {"HUB_TOKEN": "x", "api_key": "x", "tokens": 5},
        "list": [{"password": "x", "n_tokens": 1}],
    }
    assert hub_cards.scrub_secrets(recipe) == {
        "max_tokens": 96,
        "nested": {"tokens": 5},
        "list": [{"n_tokens": 1}],
    }


def test_size_categories() -> None:
    assert [hub_cards.size_category(n) for n in (0, 999, 1000, 585_392, 15_000_000)] == [
        "n<1K",
        "n<1K",
        "1K<n<10K",
        "100K<n<1M",
        "10M<n<100M",
    ]
    # every label is one the Hub lists (its snapshot in tests/data/hub_metadata.json)
    listed = json.loads((Path(__file__).parents[1] / "data" / "hub_metadata.json").read_text())
    for n in (10**9, 5 * 10**9, 10**11, 10**13):
        assert hub_cards.size_category(n) in listed["size_categories"]["values"], n
    assert hub_cards.size_category(10**9) == "1B<n<10B"


def test_cards_render_from_stats_compute_stats(tmp_path: Path) -> None:
    """The stats module's real output (not a hand-made dict) renders into every card."""
    import numpy as np

    from dart_hf import dars

    build = _build()
    qs = build["queries"]
    config = DarsConfig(
        strategies=("uniform", "prop2diff", "vrt"),
        k_u=K_U,
        k_p=K_P,
        max_trials=MAX_TRIALS,
        budget=BUDGET,
        vrt_n=12,
    )
    state = dars.new_state([q["id"] for q in qs], [q["level"] for q in qs], ["math"] * len(qs))
    state["samples"] = np.array([q["samples"] for q in qs])
    state["corrects"] = np.array([q["corrects"] for q in qs])
    state["fail_rate"] = np.array([q["fail_rate"] for q in qs])
    state["target_uniform"] = np.array([q["target_uniform"] for q in qs])
    state["target_prop2diff"] = np.array([q["target_prop2diff"] for q in qs])
    state["target_vrt"] = np.full(len(qs), 12)
    state["stop_reason"] = np.array(["reached"] * (len(qs) - 2) + ["budget", "no_correct"], object)
    kept = {
        s: np.array([Counter(build["releases"][s]["id"])[q["id"]] for q in qs])
        for s in ("uniform", "prop2diff")
    }
    kept["vrt"] = kept["uniform"]
    figures = stats.BuildFigures(
        kept=kept,
        rows={s: int(k.sum()) for s, k in kept.items()},
        filters={"duplicate": 2},
        excluded=np.zeros(len(qs), dtype=bool),
        correct_samples=int(state["corrects"].sum()),
        benchmarks=[],
    )
    run = stats.RunRecord(
        recipe={"k_u": K_U, "hf_token": "hf_should_never_show"},
        sampling={"temperature": 0.7, "top_p": 0.95, "max_tokens": 64, "template": "chat"},
        grader={"name": "math-verify", "version": "0.9.0", "grade_version": 1},
        model=stats.ModelInfo("m", "h"),
        engine=stats.EngineInfo("vllm", "0.32.0"),
        tokens=100,
        wall_time_s=12.5,
        rounds=3,
    )
    typed = stats.compute_stats(state, config, figures, run)
    _, typed_card = _stage(tmp_path / "typed", "hard", "prop2diff", build, typed)
    result = typed.to_dict()
    result = json.loads(json.dumps(result))  # as read back from stats.json
    for kind, strat in (("uniform", "uniform"), ("hard", "prop2diff"), ("vrt", "uniform")):
        folder, card = _stage(tmp_path, kind, strat, build, result)
        if kind == "hard":  # the typed object and its stats.json render the same card
            assert card.text == typed_card.text.replace("/typed/", "/")
        assert hub.check_hub_folder(folder) == []
        assert f"| `max_trials` (raw samples per query at most) | {MAX_TRIALS} |" in card.text
        assert f"| `budget` (raw samples in total at most) | {BUDGET} |" in card.text
        rule = typed.yield_rule
        assert (
            "| stop rule | a query keeps sampling while it expects more new correct responses "
            "per 1,000 further samples than a price set every round so that at most 0.5% of "
            "the rows"
        ) in card.text
        assert f"queries were stopped below target at {rule.price_median:.3g}" in card.text
        assert (
            "| level | zero | a | b | stopped with none | after (median raw samples) "
            "| a first one worth (rows) |"
        ) in card.text
        for row in rule.prior_per_level:  # each level's row, from the final state
            lv = row.level if row.level is not None else "n/a"
            assert f"| {lv} | {hub_cards.fmt_pct(row.zero)} | {hub_cards.fmt_f2(row.a)} |" in card.text
        assert "none correct | below target, some |" in card.text
        assert "`no_correct`: stopped with no correct response" in card.text
        assert "What the budget cost" in card.text
    assert "(`vrt_n = 12`, within `max_trials`)" in card.text
    pool = tmp_path / "pool"
    hub.write_hub_folder({"samples": build["releases"]["uniform"]}, pool)
    text = cards.write_card(pool, "pool", result, strategy="uniform").text
    assert "### `prop2diff` (k_p = 7, normalize_fail_rate = False)" in text
    assert "hf_should_never_show" not in (pool / "README.md").read_text()


def test_update_examples_rerenders_a_build(tmp_path: Path) -> None:
    import importlib.util

    script = Path(__file__).resolve().parents[2] / "docs" / "examples" / "update_examples.py"
    spec = importlib.util.spec_from_file_location("update_examples", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    build = _build()
    stats = _stats(build)
    out = tmp_path / "build"
    (out / "releases").mkdir(parents=True)
    (out / "stats.json").write_text(json.dumps(stats))
    hub.write_hub_folder({"default": build["releases"]["prop2diff"]}, out / "releases" / "dart-math-hard")
    cards.write_card(out / "releases" / "dart-math-hard", "hard", stats)
    staged = (out / "releases" / "dart-math-hard" / "README.md").read_text()
    written = module.update(out, tmp_path / "examples")
    assert [p.name for p in written] == ["dart-math-hard"]
    copy = tmp_path / "examples" / "dart-math-hard"
    assert sorted(p.name for p in copy.rglob("*") if p.is_file()) == [
        "README.md",
        "coverage_per_level.png",
        "fail_rate_histogram.png",
        "responses_per_level.png",
    ]
    assert DatasetCard((copy / "README.md").read_text()).data == DatasetCard(staged).data
    assert "DART-Math-Hard recipe (Prop2Diff)" in (copy / "README.md").read_text()
