"""`dart-hf build` without a build: settings, flags and pools refused, the stratified head,
and assembly of a hand-written graded pool."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from click.testing import CliRunner
from datasets import Dataset, load_dataset
from helpers import BASE

from dart_hf import dars
from dart_hf.build import run as build
from dart_hf.build import schema
from dart_hf.cli import cli
from dart_hf.errors import DartError
from dart_hf.folders import BuildFolder
from dart_hf.recipe import load_recipe

# A graded pool written by hand: (query, round, sample_idx, response, correct) and, per row,
# what assembly must do with it. Samples are numbered per query across rounds.
_REPEAT = " ".join(["so we repeat the same step"] * 8)


HAND_POOL = [
    ("q1", 0, 0, "A. Adding, $\\boxed{5}$.", True),  # kept
    ("q1", 0, 1, "B. Adding, $\\boxed{6}$.", False),  # incorrect
    ("q1", 0, 2, "A. Adding, $\\boxed{5}$.", True),  # duplicate of sample 0
    ("q1", 1, 3, "C. Maybe $\\boxed{4}$; no, it is $\\boxed{5}$.", True),  # multiple_boxed
    ("q1", 1, 4, "D. So $\\boxed{5}$.", True),  # kept
    ("q1", 1, 5, "E. Hence $\\boxed{5}$.", True),  # kept, beyond every target
    ("q2", 0, 0, "F. Halving, $\\boxed{\\frac{1}{2}}$.", True),  # kept
    ("q2", 0, 1, f"{_REPEAT} $\\boxed{{\\frac{{1}}{{2}}}}$.", True),  # repetition
    ("q2", 0, 2, "G. Halving, $\\boxed{½}$.", True),  # non_ascii_answer
    ("q2", 1, 3, "H. So $\\boxed{0.5}$.", True),  # kept
    ("q2", 1, 4, "I. $\\boxed{1}$ or $\\boxed{2}$.", False),  # incorrect (checked first)
]


def _write_hand_build(out: Path) -> None:
    """The pool above as a build's graded round files (rows of a round in shuffled order)."""
    meta = {
        "q1": ("gsm8k", 0, None, "Tom has 2 + 3 apples; how many?", "5"),
        "q2": ("math", 3, "Algebra", "What is half of one?", "\\frac{1}{2}"),
    }
    for r in (0, 1):
        rows = [row for row in HAND_POOL if row[1] == r][::-1]
        cols: dict[str, list] = {
            k: []
            for k in (
                "id",
                "source",
                "level",
                "domain",
                "query",
                "answer",
                "round",
                "sample_idx",
                "response",
                "correct",
                "pred",
                "grade_status",
            )
        }
        for qid, rnd, sidx, response, correct in rows:
            source, level, domain, query, answer = meta[qid]
            for key, value in zip(
                cols,
                (qid, source, level, domain, query, answer, rnd, sidx, response, correct, None, "ok"),
                strict=True,
            ):
                cols[key].append(value)
        n = len(rows)
        # the other columns of a graded sample (the release schema's `samples` config)
        cols |= {
            "answers": [[a] for a in cols["answer"]],
            "multi_answer": [False] * n,
            "needs_picture": [False] * n,
            "n_samples": [1] * n,
            "sample_offset": [0] * n,
            "finish_reason": ["stop"] * n,
            "n_tokens": [1] * n,
            "temperature": [1.0] * n,
            "top_p": [1.0] * n,
            "max_tokens": [4096] * n,
            "template": ["deepseekmath"] * n,
            "engine": ["scripted"] * n,
            "engine_version": ["0"] * n,
            "model": ["m"] * n,
            "model_hash": ["h"] * n,
            "verdict_source": ["math_verify"] * n,
        }
        graded = schema.features(schema.SAMPLES)
        del graded["drop_reason"]  # added by the assembly
        table = pa.table({c: cols.get(c, [None] * n) for c in graded}, schema=graded.arrow_schema)
        folder = out / "rounds" / f"round-{r:03d}"
        folder.mkdir(parents=True)
        with (
            pa.OSFile(str(folder / "graded.arrow"), "wb") as sink,
            pa.ipc.new_stream(sink, table.schema) as writer,
        ):
            writer.write_table(table)


def test_releases_of_a_hand_written_pool(tmp_path: Path) -> None:
    """Each release holds exactly the rows read off the table above: correct, unfiltered,
    first copy of a response, then the first t per query by (round, sample_idx)."""
    out = tmp_path / "run"
    _write_hand_build(out)
    settings = build.BuildSettings.from_dict(
        dict(BASE, strategies="uniform,prop2diff,vrt", k_u=2, k_p=4, vrt_n=3, decontaminate=False)
    )
    state = dars.new_state(["q1", "q2"], [0, 3], ["gsm8k", "math"])
    state["samples"][:] = [6, 5]
    state["corrects"][:] = [5, 4]
    # fail rates 0.25 and 0.75: prop2diff t = ceil(4 * 0.25) = 1 and ceil(4 * 0.75) = 3
    state = dars.freeze_difficulty(state, settings.dars, np.array([0.25, 0.75]), np.array([4, 4]))
    assert state["target_prop2diff"].tolist() == [1, 3]
    state["done"][:] = True
    state["stop_reason"][:] = "reached"
    queries = Dataset.from_dict(
        {
            "id": ["q1", "q2"],
            "query": ["Tom has 2 + 3 apples; how many?", "What is half of one?"],
            "answer": ["5", "\\frac{1}{2}"],
            "domain": [None, "Algebra"],
        }
    )
    releases, figures = build.assemble_releases(BuildFolder(out), queries, state, settings)

    def released(name: str) -> list[tuple[str, str]]:
        ds = load_dataset(str(releases[name]), split="train")
        return [(r["id"], r["response"][:2]) for r in ds]

    assert released("uniform") == [("q1", "A."), ("q1", "D."), ("q2", "F."), ("q2", "H.")]
    assert released("prop2diff") == [("q1", "A."), ("q2", "F."), ("q2", "H.")]  # q2 short of 3
    assert released("vrt") == [("q1", "A."), ("q2", "F.")]  # survivors among samples 0-2
    assert figures.filters == {
        "incorrect": 2,
        "failed": 0,
        "multiple_boxed": 1,
        "repetition": 1,
        "non_ascii_answer": 1,
        "duplicate": 1,
    }
    assert {k: v.tolist() for k, v in figures.kept.items()} == {
        "uniform": [2, 2],
        "prop2diff": [1, 2],
        "vrt": [1, 1],
    }
    row = load_dataset(str(releases["uniform"]), split="train")[2]
    assert row == {
        "query": "What is half of one?",
        "response": HAND_POOL[6][3],
        "id": "q2",
        "source": "math",
        "level": 3,
        "domain": "Algebra",
        "fail_rate": 0.75,
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--k-u", "0"], "k_u must be an integer >= 1"),
        (["--k-p", "0"], "k_p must be an integer >= 1"),
        (["--max-trials", "0"], "max_trials must be an integer >= 1"),
        (["--strategies", "uniform,best"], "unknown strategy 'best'"),
    ],
)
def test_bad_flags(args: list[str], message: str, tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["build", "--engine", "scripted", *args, "-o", str(tmp_path)])
    assert res.exit_code != 0
    assert message in res.output and "Traceback" not in res.output


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([], "{pool} is empty (no JSON rows)"),
        (
            [{"question": "What is 1+1?", "answer": "1 + 1 = 2\n#### "}],
            "the query pool ({pool}) has no gold answers (column 'answer' is empty in all 1 "
            "rows); ",  # then what to do, which the --gold work is rewording
        ),
    ],
    ids=["empty", "no-gold"],
)
def test_bad_pools(rows: list[dict], message: str, tmp_path: Path) -> None:
    pool = tmp_path / "pool.jsonl"
    pool.write_text("".join(json.dumps(r) + "\n" for r in rows))
    res = CliRunner().invoke(
        cli, ["build", "--engine", "scripted", "--pool", str(pool), "-o", str(tmp_path / "o")]
    )
    assert res.exit_code == 1, res.output
    assert f"Error: {message.format(pool=pool)}" in res.output
    assert "Traceback" not in res.output


def test_settings_resolution() -> None:
    recipe = {"k_u": 5, "benchmarks": "math", "build": {"k_u": 6}}
    assert build.resolve_settings(recipe, {"k_u": None})["k_u"] == 6
    assert build.resolve_settings(recipe, {"k_u": 7})["k_u"] == 7
    assert "benchmarks" not in build.resolve_settings(recipe, {})  # eval's key, left alone
    with pytest.raises(DartError, match="unknown setting"):
        build.resolve_settings({"build": {"k_uu": 1}}, {})
    for name in ("paper", "embedded", "ci"):
        s = build.BuildSettings.from_dict(build.resolve_settings(load_recipe(name), {}))
        assert s.dars.strategies == ("uniform", "prop2diff")
    paper = build.BuildSettings.from_dict(build.resolve_settings(load_recipe("paper"), {}))
    assert (paper.dars.k_u, paper.dars.k_p, paper.dars.max_trials) == (40, 192, 8192)
    assert (paper.sampling.temperature, paper.sampling.top_p) == (1.6, 0.95)
    assert paper.sampling.template == "deepseekmath" and paper.sampling.max_tokens == 2048


def test_builds_grade_with_the_templates_anchor_record() -> None:
    """`require_anchor` null takes the template's record (issue 26); set, it wins; it is in
    the fingerprint's settings."""
    for template, expected in (("deepseekmath", True), ("chat", True), ("qa", False)):
        s = build.BuildSettings.from_dict(dict(BASE, template=template))
        assert s.grade.require_anchor is None and s.grading.require_anchor is expected
    s = build.BuildSettings.from_dict(dict(BASE, template="chat", require_anchor=False))
    assert s.grading.require_anchor is False
    ds = Dataset.from_dict({"id": ["a"], "query": ["q"], "answer": ["1"]})
    fp = build.fingerprint(build.BuildSettings.from_dict(dict(BASE)).to_dict(), ds)
    assert "require_anchor" in fp["settings"]


def test_stratified_head() -> None:
    levels = [0, 0, 0, 1, 1, 5, None]
    assert build.stratified_head(levels, 4) == [0, 3, 5, 6]  # one per level first
    assert build.stratified_head(levels, 5) == [0, 1, 3, 5, 6]
