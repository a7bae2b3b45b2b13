"""`dart-hf build` end to end: scripted engine (fast, exact) and the embedded model (integration).

The scripted engine is a labelled simulation that emits real response text at set pass
rates; everything after it (sampling stage, Math-Verify grading, DARS, assembly, cards) is the
production code.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from datasets import load_dataset
from helpers import BASE

from dart_hf import dars
from dart_hf.build import assemble, schema
from dart_hf.build import run as build
from dart_hf.cli import cli
from dart_hf.folders import BuildFolder

REPO = Path(__file__).resolve().parents[2]


def _releases(out: Path) -> dict[str, list[dict]]:
    got = {}
    for folder in sorted((out / "releases").iterdir()):
        if folder.name == build.POOL_RELEASE:
            continue
        got[folder.name] = load_dataset(str(folder), split="train").to_list()
    return got


@pytest.fixture(scope="module")
def scripted_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, build.BuildResult]:
    out = tmp_path_factory.mktemp("build") / "run"
    return out, build.run_build(dict(BASE), out)


def test_outputs_and_invariants(scripted_build: tuple[Path, build.BuildResult]) -> None:
    out, result = scripted_build
    assert (out / "recipe.yaml").is_file() and (out / "stats.json").is_file()
    final = dars.load_state(BuildFolder(out).state(BuildFolder(out).last_round()))
    assert final["done"].all()
    # max_trials is never exceeded; reached means >= t correct and >= vrt_n samples.
    assert (final["samples"] <= BASE["max_trials"]).all()
    reached = final["stop_reason"] == "reached"
    assert reached.any()
    assert (final["corrects"][reached] >= final["target"][reached]).all()
    # t equals the formula from the fail rate frozen after the difficulty phase.
    phase = dars.load_state(out / "state" / "round-000.parquet")
    fr = 1 - phase["corrects"] / phase["samples"]
    assert np.allclose(final["fail_rate"], fr)
    assert (final["fail_rate_samples"] == BASE["difficulty_samples"]).all()
    expected = [max(1, math.ceil(BASE["k_p"] * f - 1e-9)) for f in fr]
    assert final["target_prop2diff"].tolist() == expected
    assert (final["target_prop2diff"] >= 1).all()
    assert (final["target_uniform"] == BASE["k_u"]).all()
    # Counts in the state equal the graded rows on disk.
    pool = build.graded_pool(BuildFolder(out))
    assert len(pool) == final["samples"].sum()
    assert sum(pool["correct"]) == final["corrects"].sum()
    stats = json.loads((out / "stats.json").read_text())
    assert set(stats["strategies"]) == {"uniform", "prop2diff", "vrt"}
    assert stats["totals"]["raw_samples"] == len(pool)


def test_released_rows_are_min_t_unique_correct(
    scripted_build: tuple[Path, build.BuildResult],
) -> None:
    out, _ = scripted_build
    final = dars.load_state(BuildFolder(out).state(BuildFolder(out).last_round()))
    pool = build.graded_pool(BuildFolder(out)).to_list()
    info = load_dataset(str(out / "releases" / build.POOL_RELEASE), "queries", split="train")
    decontaminated = dict(zip(info["id"], info["decontaminated"], strict=True))
    releases = _releases(out)
    # The scripted engine's glitches (engines/scripted.py) are the rows the quality filters
    # must drop: a second, wrong box ("Perhaps it is \\boxed{...}") or a repetition loop.
    glitches = ("Perhaps it is $\\boxed", " ".join(["so we repeat the step"] * 5))
    pool.sort(key=lambda r: (r["round"], r["sample_idx"]))
    glitched = [r for r in pool if r["correct"] and any(g in r["response"] for g in glitches)]
    assert glitched, "no glitched correct sample: the filters were not exercised"
    for name, folder in (("uniform", "dart-math-uniform"), ("prop2diff", "dart-math-hard")):
        got: dict[str, list[str]] = {}
        for row in releases[folder]:
            got.setdefault(row["id"], []).append(row["response"])
        for i, qid in enumerate(final["id"]):
            clean: list[str] = []
            for r in pool:
                if r["id"] != qid or not r["correct"] or r["response"] in clean:
                    continue
                if not any(g in r["response"] for g in glitches):
                    clean.append(r["response"])
            want = [] if decontaminated[qid] else clean[: final[f"target_{name}"][i]]
            assert got.get(qid, []) == want, (name, qid)
    cols = list(releases["dart-math-hard"][0])
    assert cols == ["query", "response", "id", "source", "level", "domain", "fail_rate"]
    # The pool release stores why a sample is in no release; every released one has none.
    samples = load_dataset(str(out / "releases" / build.POOL_RELEASE), "samples", split="train")
    eligible = {(r["id"], r["response"]) for r in samples if r["drop_reason"] is None}
    for r in samples:
        if not r["correct"]:
            assert r["drop_reason"] == "incorrect"
        elif decontaminated[r["id"]] and r["drop_reason"] != "duplicate":
            assert r["drop_reason"] == "decontaminated"
    for name in ("dart-math-uniform", "dart-math-hard"):
        assert all((row["id"], row["response"]) in eligible for row in releases[name])
    assert {r["drop_reason"] for r in samples} >= {None, "incorrect"}


def test_resume_after_each_round_equals_uninterrupted(
    scripted_build: tuple[Path, build.BuildResult], tmp_path: Path
) -> None:
    out, _ = scripted_build
    want = _releases(out)
    last = BuildFolder(out).last_round()
    assert last >= 2
    for r in range(last):
        cut = tmp_path / f"cut-{r}"
        shutil.copytree(out, cut, ignore=shutil.ignore_patterns("releases", "stats.json"))
        for k in range(r + 1, last + 1):
            (cut / "state" / f"round-{k:03d}.parquet").unlink()
            # keep one sampling shard of the next round: a round killed half-way
            folder = cut / "rounds" / f"round-{k:03d}"
            if k == r + 1:
                for p in folder.iterdir():
                    if not p.name.startswith("shard-00000"):
                        p.unlink()
            else:
                shutil.rmtree(folder)
        build.run_build(dict(BASE), cut)
        assert _releases(cut) == want, f"resume after round {r}"


def test_exactly_t_correct_finishes(tmp_path: Path) -> None:
    """Pass rate 1: the difficulty phase already yields t correct, so no second round runs."""
    table = tmp_path / "rates.jsonl"
    pool = tmp_path / "pool.jsonl"
    rows = [
        {
            "question": f"Tom has {i} apples and buys 2 more. How many apples now?",
            "answer": f"{i} + 2 = {i + 2}\n#### {i + 2}",
        }
        for i in range(3, 6)
    ]
    pool.write_text("".join(json.dumps(r) + "\n" for r in rows))
    table.write_text(
        "".join(
            json.dumps({"query": r["question"], "answer": str(i + 3 + 2), "pass_rate": 1.0}) + "\n"
            for i, r in enumerate(rows)
        )
    )
    settings = dict(
        BASE,
        pool=str(pool),
        limit=None,
        strategies="uniform,prop2diff",
        k_u=3,
        difficulty_samples=3,
        engine_options={"table": str(table), "glitch_rate": 0.0},
    )
    result = build.run_build(settings, tmp_path / "out")
    final = dars.load_state(tmp_path / "out" / "state" / "round-000.parquet")
    assert BuildFolder(tmp_path / "out").last_round() == 0
    assert final["corrects"].tolist() == [3, 3, 3]
    assert set(final["stop_reason"]) == {"reached"}
    assert final["target_prop2diff"].tolist() == [1, 1, 1]  # fail rate 0: at least one
    hard = result.stats.strategies["prop2diff"].per_level[0]
    assert hard.mean_responses == 1.0 and hard.coverage == 1.0


def test_fingerprints_follow_settings(scripted_build: tuple[Path, build.BuildResult]) -> None:
    from dart_hf.config import SamplingConfig
    from dart_hf.sampling.shards import sample_batch

    out, _ = scripted_build
    pool = build.graded_pool(BuildFolder(out))
    final = dars.load_state(BuildFolder(out).state(BuildFolder(out).last_round()))
    ids = list(final["id"])
    sel = assemble.select(pool, ids)
    fr = dict.fromkeys(ids, 0.5)

    def uniform(k: int):
        rows = sel.order[sel.first_t(np.full(len(ids), k))]
        return assemble.release(pool, rows, fr, columns=schema.names(schema.RELEASE))

    a, b, c = uniform(2), uniform(2), uniform(3)
    assert a._fingerprint == b._fingerprint and a.cache_files == b.cache_files  # cache reused
    assert a._fingerprint != c._fingerprint  # k_u changes the fingerprint
    queries = build.load_queries(build.BuildSettings.from_dict(dict(BASE)).build)
    queries = queries.select(range(2))

    def fingerprint(model: str) -> str:
        spec = build.engine_spec(
            build.BuildSettings.from_dict(dict(BASE, model=model)).build, BuildFolder(out), queries
        )
        kw = {"engine_spec": spec, "sampling": SamplingConfig(template="deepseekmath"), "round": 1, "seed": 0}
        return queries.map(
            sample_batch, batched=True, fn_kwargs=kw, remove_columns=queries.column_names
        )._fingerprint

    assert fingerprint("/models/a") != fingerprint("/models/b")
    assert fingerprint("/models/a") == fingerprint("/models/a")


def _cli_build(args: list[str], out: Path) -> subprocess.Popen:
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    cmd = [sys.executable, "-c", "from dart_hf.cli import main; main()", "build", *args, "-o", str(out)]
    return subprocess.Popen(
        cmd, env=env, cwd=REPO, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


def test_kill_and_resume(tmp_path: Path) -> None:
    """Kill a scripted build while a round is half-sampled; rerun; same releases as a build
    that was not killed (run beside the other two: most of their time is the engine's delay)."""
    recipe = tmp_path / "r.yaml"
    slow = dict(BASE, engine_options={"delay_s": 0.4})
    recipe.write_text("\n".join(f"{k}: {json.dumps(v)}" for k, v in slow.items()) + "\n")
    args = ["--config", str(recipe)]
    ref = _cli_build(args, tmp_path / "ref")
    killed = _cli_build(args, tmp_path / "run")
    shard = tmp_path / "run" / "rounds" / "round-001" / "shard-00000.parquet"
    deadline = time.time() + 300
    while not shard.exists() and time.time() < deadline and killed.poll() is None:
        time.sleep(0.05)
    assert shard.exists(), "round 1 never started"
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait()
    assert not (tmp_path / "run" / "rounds" / "round-001" / "graded.arrow").exists()
    again = _cli_build(args, tmp_path / "run")
    output = again.stdout.read().decode() if again.stdout else ""
    assert again.wait(timeout=600) == 0, output
    assert "resp/q" in output
    ref_output = ref.communicate(timeout=600)[0]
    assert ref.returncode == 0, ref_output.decode()
    assert _releases(tmp_path / "run") == _releases(tmp_path / "ref")


def test_recipe_mismatch_is_refused(scripted_build: tuple[Path, build.BuildResult]) -> None:
    out, _ = scripted_build
    res = CliRunner().invoke(cli, ["build", "--config", "ci", "--engine", "scripted", "-o", str(out)])
    assert res.exit_code != 0 and "other settings" in res.output


def test_benchmark_questions_are_decontaminated(tmp_path: Path) -> None:
    """A pool query copied from GSM8K test (bundled slice) is dropped from every release."""
    test_row = json.loads((REPO / "dart_hf/data/gsm8k/test.jsonl").read_text().splitlines()[0])
    rows = [
        test_row,
        {"question": "Tom has 3 apples and buys 2 more. How many apples?", "answer": "3 + 2 = 5\n#### 5"},
    ]
    pool = tmp_path / "pool.jsonl"
    pool.write_text("".join(json.dumps(r) + "\n" for r in rows))
    settings = dict(BASE, pool=str(pool), limit=None, strategies="uniform")
    result = build.run_build(settings, tmp_path / "out")
    assert result.stats.strategies["uniform"].decontaminated_queries == 1
    released = _releases(tmp_path / "out")["dart-math-uniform"]
    assert {r["query"] for r in released} == {rows[1]["question"]}


def test_fail_rate_from_earlier_run(scripted_build: tuple[Path, build.BuildResult], tmp_path: Path) -> None:
    """Fail rates loaded from an earlier run's query info: no difficulty phase, same targets."""
    out, _ = scripted_build
    info = next((out / "releases" / build.POOL_RELEASE / "queries").glob("*.parquet"))
    settings = dict(BASE, strategies="prop2diff", fail_rate_from=str(info))
    build.run_build(settings, tmp_path / "again")
    first = dars.load_state(tmp_path / "again" / "state" / "round-000.parquet")
    before = dars.load_state(out / "state" / "round-000.parquet")
    assert np.allclose(first["fail_rate"], before["fail_rate"])
    assert (first["fail_rate_samples"] == BASE["difficulty_samples"]).all()
    assert first["target_prop2diff"].tolist() == before["target_prop2diff"].tolist()
    assert (first["samples"] < BASE["difficulty_samples"]).any()  # scheduled, not a phase


def test_org_names_the_repo_in_the_cards(tmp_path: Path) -> None:
    out = tmp_path / "run"
    build.run_build(dict(BASE, limit=4, org="my-org"), out)
    card = (out / "releases" / "dart-math-hard" / "README.md").read_text()
    assert 'load_dataset("my-org/dart-math-hard", split="train")' in card
    assert "<org>/" not in card


def test_gold_audit_flags_a_wrong_gold(tmp_path: Path) -> None:
    """Issue 17.3: a pool gold that no sample gives while the samples agree on another answer
    is `disputed` in the query info and the cards; `exclude_disputed` drops its samples."""
    questions = [("What is 2 + 3?", "5", "5"), ("What is 6 * 2?", "12", "97")]  # 97 is wrong
    pool = tmp_path / "pool.jsonl"
    pool.write_text(
        "".join(json.dumps({"question": q, "answer": f"So.\n#### {g}"}) + "\n" for q, _, g in questions),
        encoding="utf-8",
    )
    truth = tmp_path / "truth.jsonl"  # what the simulated model answers when it hits
    truth.write_text(
        "".join(json.dumps({"query": q, "answer": a, "pass_rate": 0.9}) + "\n" for q, a, _ in questions),
        encoding="utf-8",
    )
    settings = {
        **{k: v for k, v in BASE.items() if k not in ("pool", "limit")},
        "pool": str(pool),
        "strategies": "uniform",
        "decontaminate": False,
        "engine_options": {"table": str(truth)},
        "gold_min_votes": 3,
    }
    res = build.run_build(settings, tmp_path / "run")
    info = load_dataset(str(res.releases["pool"]), "queries", split="train").to_pandas().set_index("answer")
    assert info.loc["5", "gold_status"] == "ok"
    assert info.loc["97", "gold_status"] == "disputed"
    assert info.loc["97", "gold_majority"] == "12" and info.loc["97", "gold_majority_votes"] >= 3
    audit = res.stats.gold_audit
    assert audit is not None and audit.counts == {"ok": 1, "unparseable": 0, "disputed": 1}
    card = (res.releases["uniform"] / "README.md").read_text()
    assert "Gold audit" in card and "| L0 (GSM8K) | 1 | 1 | 0 |" in card

    dropped = build.run_build({**settings, "exclude_disputed": True}, tmp_path / "run2")
    samples = load_dataset(str(dropped.releases["pool"]), "samples", split="train")
    assert set(samples["answer"]) == {"5"}
    assert "left out of every release" in (dropped.releases["pool"] / "README.md").read_text()
