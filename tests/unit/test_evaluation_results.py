"""`dart-hf eval --n K`: pass@k, maj@k and accuracy ± SE in results.json, results.md, the
card and the metric; what changes an answer recorded; bad input refused."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from dart_hf.cli import cli
from dart_hf.errors import DartError
from dart_hf.evaluation import results as er
from dart_hf.evaluation import run as ev

# ------------------------------------------------------------------ from a predictions table


def _table() -> dict[str, list]:
    """Two MATH items with 3 responses each under seeds 0 and 1, sample order scrambled."""
    rows = [
        # (id, seed, sample_idx, correct, status, pred)
        ("a", 0, 2, False, "ok", "5"),
        ("a", 0, 0, True, "ok", "4"),
        ("a", 0, 1, False, "ok", "5.0"),  # the grader's 5: one vote with "5"
        ("b", 0, 0, False, "no_answer", None),
        ("b", 0, 1, False, "truncated", None),
        ("b", 0, 2, True, "ok", "1/2"),
        ("a", 1, 0, True, "ok", "4"),
        ("a", 1, 1, True, "ok", "4"),
        ("a", 1, 2, True, "ok", "4"),
        ("b", 1, 0, False, "ok", "7"),
        ("b", 1, 1, True, "ok", "1/2"),
        ("b", 1, 2, False, "hedge", "7 ; 8"),
    ]
    keys = ("id", "seed", "sample_idx", "correct", "grade_status", "pred")
    cols: dict[str, list] = {k: [r[i] for r in rows] for i, k in enumerate(keys)}
    cols["benchmark"] = ["math"] * len(rows)
    cols["level"] = [1] * len(rows)
    cols["domain"] = ["Algebra"] * len(rows)
    return cols


def test_estimates_pool_seeds_for_pass_at_k_and_vote_per_seed() -> None:
    s = er.summarize_predictions(_table())
    math_ = s["benchmarks"]["math"]
    assert math_["n"] == 2  # items, not rows
    e = math_["estimates"]
    assert (e["items"], e["n"], e["seeds"], e["bad_gold"]) == (2, 3, 2, 0)
    # item a: 4 of 6 correct, item b: 2 of 6; pooled n = 6
    assert e["accuracy"] == round(100 * (4 / 6 + 2 / 6) / 2, 4) == e["pass@k"]["1"]
    se = math.sqrt(((4 / 6 - 0.5) ** 2 + (2 / 6 - 0.5) ** 2) / 1) / math.sqrt(2)
    assert e["se"] == round(100 * se, 4)
    p3 = ((1 - math.comb(2, 3) / math.comb(6, 3)) + (1 - math.comb(4, 3) / math.comb(6, 3))) / 2
    assert e["pass@k"]["3"] == round(100 * p3, 4)
    # seed 0: a votes 4 (gold) then 5 and 5.0 (one answer): maj@1 yes, @2 tie -> gold first,
    # @3 no; b: only the third response votes. Seed 1: a always; b 7 then gold: @2 tie -> 7
    seed0, seed1 = e["per_seed"]["0"], e["per_seed"]["1"]
    assert seed0["maj@k"] == {"1": 50.0, "2": 50.0, "3": 50.0}
    assert seed1["maj@k"] == {"1": 50.0, "2": 50.0, "3": 50.0}
    assert e["maj@k"] == {"1": 50.0, "2": 50.0, "3": 50.0}
    assert seed0["accuracy"] == 33.3333 and seed1["accuracy"] == round(100 * (1 + 1 / 3) / 2, 4)
    # the per-seed spread of the row accuracy stays as it was
    assert math_["per_seed"] == {"0": 33.3333, "1": 66.6667}
    avg = s["average"]["estimates"]
    assert avg["accuracy"] == e["accuracy"] and avg["se"] == e["se"] and avg["n"] == 3


def test_grader_equality_decides_a_vote() -> None:
    cols = _table()
    # seed 0, item a: 4, then 5.0, 5: by the grader two votes for 5 beat one for 4 at k = 3
    s = er.summarize_predictions({k: v[:3] for k, v in cols.items()})
    e = s["benchmarks"]["math"]["estimates"]
    assert e["maj@k"] == {"1": 100.0, "2": 100.0, "3": 0.0}
    assert e["pass@k"] == {"1": 33.3333, "2": 66.6667, "3": 100.0}
    assert e["se"] is None  # one item: no standard error


def test_average_standard_error_combines_benchmarks() -> None:
    entries = [
        {
            "items": 10,
            "n": 2,
            "accuracy": 40.0,
            "se": 3.0,
            "pass@k": {"1": 40.0, "2": 50.0},
            "maj@k": {"1": 40.0, "2": 40.0},
        },
        {
            "items": 20,
            "n": 2,
            "accuracy": 60.0,
            "se": 4.0,
            "pass@k": {"1": 60.0, "2": 70.0},
            "maj@k": {"1": 60.0, "2": 50.0},
        },
    ]
    avg = er.average_estimates(entries)
    assert avg is not None
    assert (avg["accuracy"], avg["se"], avg["items"]) == (50.0, 2.5, 30)  # sqrt(9 + 16) / 2
    assert avg["pass@k"] == {"1": 50.0, "2": 60.0} and avg["maj@k"] == {"1": 50.0, "2": 45.0}


def test_markdown_shows_pass_and_maj_columns_and_the_protocol() -> None:
    s = er.summarize_predictions(_table())
    results = {**s, "settings": {"seeds": [0, 1], "n": 3}}
    results["protocol"] = er.protocol(
        {
            "seeds": [0, 1],
            "n": 3,
            "temperature": 0.8,
            "top_p": 0.95,
            "template": "alpaca",
            "max_tokens": 1024,
            "shard_size": 16,
            "n_shots_used": {"math": 0},
            "engine": {
                "backend": "vllm",
                "dtype": "bfloat16",
                "max_model_len": 4096,
                "options": {"tensor_parallel_size": 2, "max_num_seqs": 64},
            },
        },
        {"engine": "vllm", "engine_version": "0.9.2", "model": "m", "model_hash": "abc"},
        {"name": "math-verify", "version": "0.8.0", "grade_version": "7"},
    )
    p = results["protocol"]
    assert (p["tensor_parallel_size"], p["data_parallel_size"], p["n"]) == (2, 1, 3)
    assert p["batch"] == {"shard_size": 16, "max_num_seqs": 64}
    md = er.results_markdown(results)
    assert "| benchmark | items | accuracy ± SE | pass@1 | pass@2 | pass@3 | maj@1 |" in md
    assert "| MATH | 2 | 50.0 ± 16.7 | 50.0 | 76.7 | 90.0 | 50.0 | 50.0 | 50.0 |" in md
    assert "3 samples per item per seed, 2 seeds" in md
    assert "| engine | vllm 0.9.2 |" in md and "| tensor / data parallel size | 2 / 1 |" in md
    assert "| grader | math-verify 0.8.0 (grade version 7) |" in md
    assert "| samples per item (n) | 3 |" in md and "| dtype | bfloat16 |" in md
    assert "What changes an answer" not in er.results_markdown(results, with_protocol=False)


def test_shown_ks() -> None:
    assert er.shown_ks(4) == [1, 2, 3, 4] and er.shown_ks(1) == [1]
    assert er.shown_ks(16) == [1, 2, 4, 8, 16] and er.shown_ks(12) == [1, 2, 4, 8, 12]


# ------------------------------------------------------------------ settings and bad input


def test_n_settings_resolve_and_greedy_stays_the_default() -> None:
    config, _ = ev.resolve_config({}, {"n": 4, "temperature": 0.8})
    assert (config.n, config.temperature, config.top_p) == (4, 0.8, 1.0)
    config, _ = ev.resolve_config({"temperature": 0.7, "top_p": 0.9}, {"n": 4})
    assert (config.n, config.temperature, config.top_p) == (4, 0.7, 0.9)  # the recipe's
    config, _ = ev.resolve_config({"temperature": 0.7}, {})
    assert (config.n, config.temperature) == (1, 0.0)  # greedy: the protocol
    config, _ = ev.resolve_config({"eval": {"n": 2, "temperature": 0.6}}, {})
    assert (config.n, config.temperature) == (2, 0.6)
    assert config.sampling_dict("math", 0)["n"] == 2
    assert ev.EvalConfig().sampling_dict("math", 0)["n"] == 1  # always recorded
    with pytest.raises(DartError, match=r"--n 4 with greedy decoding \(temperature 0\)"):
        ev.resolve_config({}, {"n": 4})
    with pytest.raises(DartError, match="--n must be >= 1"):
        ev.resolve_config({}, {"n": 0, "temperature": 0.8})


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--n", "0", "--temperature", "0.8"], "--n must be >= 1 (responses per item), got 0"),
        (["--n", "4"], "--n 4 with greedy decoding (temperature 0) would give 4 identical"),
        (["--n", "4", "--temperature", "0"], "--n 4 with greedy decoding"),
        (["--n", "two"], "'two' is not a valid integer"),
    ],
)
def test_bad_n_is_a_one_line_error(tmp_path: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["eval", *args, "-o", str(tmp_path / "o")])
    assert result.exit_code != 0
    assert message in result.output and "Traceback" not in result.output
    if "greedy" in message:
        errors = [line for line in result.output.splitlines() if line.strip()]
        assert len(errors) == 1, result.output


# ------------------------------------------------------------------ end to end, scripted engine


def test_metric_refuses_ragged_finish_reasons() -> None:
    import evaluate

    from dart_hf.metric import METRIC_PATH

    metric = evaluate.load(METRIC_PATH)
    with pytest.raises(ValueError, match=r"finish_reasons\[0\] must list 2 reasons"):
        metric.compute(
            predictions=[["$\\boxed{1}$", "$\\boxed{2}$"]],
            references=["1"],
            finish_reasons=[["stop"]],
        )
