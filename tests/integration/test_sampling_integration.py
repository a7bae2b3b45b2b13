"""The sampling stage on the real engines (the session's vLLM and transformers engines), and
`dart-hf sample` killed and resumed on the embedded model."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml
from datasets import Dataset, concatenate_datasets

from dart_hf.config import GradeConfig, SamplingConfig
from dart_hf.engines import EngineSpec
from dart_hf.sampling import shards as sampling

REPO = Path(__file__).resolve().parents[2]


def _real_queries() -> Dataset:
    from dart_hf.sources import load_pool

    return concatenate_datasets([load_pool("gsm8k", limit=2), load_pool("math", limit=2)])


def _check_real(ds: Dataset, engine, queries: Dataset, counts: list[int], offset: int) -> None:
    from dart_hf.sources import SOURCE_FEATURES

    assert ds.column_names[: len(SOURCE_FEATURES)] == list(SOURCE_FEATURES)
    assert ds.column_names[-len(sampling.SAMPLE_COLUMNS) :] == sampling.SAMPLE_COLUMNS
    assert len(ds) == sum(counts)
    keys = list(zip(ds["id"], ds["round"], ds["sample_idx"], strict=True))
    assert len(set(keys)) == len(keys)
    expected = {(q, k) for q, c in zip(queries["id"], counts, strict=True) for k in range(c)}
    assert {(i, s - offset) for i, _, s in keys} == expected
    prov = engine.provenance()
    for row in ds:
        assert row["finish_reason"] in {"stop", "length"}
        assert 0 < row["n_tokens"] <= row["max_tokens"]
        if row["finish_reason"] == "length":
            assert row["n_tokens"] == row["max_tokens"]
        # n_tokens counts generated tokens (incl. EOS or stop-string tokens); re-tokenising
        # the text gives the same count up to those and rare non-canonical splits.
        retok = engine.count_tokens(row["response"])
        assert retok - 3 <= row["n_tokens"] <= retok + 8
        assert {k: row[k] for k in prov} == prov
    by_query: dict[str, list[str]] = {}
    for i, text in zip(ds["id"], ds["response"], strict=True):
        by_query.setdefault(i, []).append(text)
    for texts in by_query.values():  # differ within a query (empty ones aside: EOS first)
        said = [t for t in texts if t]
        assert len(set(said)) == len(said)


def _sample_two_rounds(spec: EngineSpec, engine, tmp_path: Path, template: str) -> Dataset:
    from dart_hf.grading.grade import grade_dataset

    queries = _real_queries()
    cfg = SamplingConfig(n=3, temperature=1.0, top_p=0.95, max_tokens=96, template=template)
    kw = {"engine_spec": spec, "sampling": cfg, "seed": 0, "shard_size": 2, "progress": False}
    r0 = sampling.run_sampling(queries, tmp_path / "r0", round=0, **kw)
    _check_real(r0, engine, queries, [3] * 4, 0)
    counts = [2, 0, 1, 2]
    q1 = queries.add_column("n_samples", counts).add_column("sample_offset", [3] * 4)
    r1 = sampling.run_sampling(q1, tmp_path / "r1", round=1, **kw)
    _check_real(r1.remove_columns(["n_samples", "sample_offset"]), engine, queries, counts, 3)
    assert set(r1["round"]) == {1}
    # rounds give new samples (an empty response, EOS first, can come up in any round)
    assert not (set(r0["response"]) & set(r1["response"])) - {""}
    both = concatenate_datasets([r0, r1.remove_columns(["n_samples", "sample_offset"])])
    graded = grade_dataset(both, GradeConfig(timeout_s=10))
    assert len(graded) == 3 * 4 + 5
    for row in graded:
        assert row["grade_status"] in {"ok", "no_answer", "timeout", "error", "truncated"}
        if row["finish_reason"] == "length":
            assert row["grade_status"] == "truncated" and row["correct"] is False
    return graded


def test_vllm_sampling_stage(vllm_spec: EngineSpec, vllm_engine, tmp_path: Path) -> None:
    graded = _sample_two_rounds(vllm_spec, vllm_engine, tmp_path, "deepseekmath")
    assert set(graded["engine"]) == {"vllm"}


def test_transformers_sampling_stage(hf_spec: EngineSpec, hf_engine, tmp_path: Path) -> None:
    graded = _sample_two_rounds(hf_spec, hf_engine, tmp_path, "chat")
    assert set(graded["engine"]) == {"transformers"}


def _cli_sample(out: Path, recipe: Path) -> list[str]:
    return [
        sys.executable,
        "-c",
        "from dart_hf.cli import main; main()",
        "sample",
        "--pool",
        "gsm8k",
        "--engine",
        "transformers",
        "--template",
        "deepseekmath",
        "--n",
        "2",
        "--max-tokens",
        "24",
        "--temperature",
        "1.0",
        "--limit",
        "6",
        "--shard-size",
        "1",
        "--seed",
        "5",
        "--config",
        str(recipe),
        "-o",
        str(out),
    ]


def test_kill_and_resume(tmp_path: Path) -> None:
    """A `dart-hf sample` killed after its first shard resumes to the same samples as one run
    straight through (beside it: one engine thread each, the two share the two cores)."""
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"engine_options": {"batch_size": 4, "num_threads": 1}}))
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    full, resumed = tmp_path / "full", tmp_path / "resumed"
    straight_log = tmp_path / "straight.log"  # a file, not a pipe nobody reads meanwhile
    with straight_log.open("wb") as log_to:
        straight = subprocess.Popen(
            _cli_sample(full, recipe), env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=log_to
        )

    proc = subprocess.Popen(
        _cli_sample(resumed, recipe),
        env=env,
        cwd=REPO,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 240
    while not (resumed / "shard-00000.parquet").exists():
        assert proc.poll() is None and time.monotonic() < deadline, "no shard written"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = sorted(resumed.glob("shard-*.parquet"))
    assert 1 <= len(finished) < 6, "kill came too late to test resuming"
    stamp = {f: (f.stat().st_mtime_ns, f.read_bytes()) for f in finished}
    log_file = resumed / "shards.jsonl"  # a kill between a shard's rename and its line: none
    logged_before = [json.loads(x) for x in log_file.read_text().splitlines()] if log_file.is_file() else []

    again = subprocess.run(_cli_sample(resumed, recipe), env=env, cwd=REPO, capture_output=True)
    assert again.returncode == 0, again.stderr.decode()[-2000:]
    assert straight.wait(timeout=600) == 0, straight_log.read_text(errors="replace")[-2000:]
    for f, before in stamp.items():
        assert (f.stat().st_mtime_ns, f.read_bytes()) == before  # finished shards untouched
    log = [json.loads(x) for x in (resumed / "shards.jsonl").read_text().splitlines()]
    # lines the rerun added: shards it generated, and finished shards whose line the kill
    # prevented (recovered from their files, not generated again)
    rerun = [x["shard"] for x in log[len(logged_before) :] if not x.get("recovered")]
    assert not {int(f.name[6:11]) for f in finished} & set(rerun)  # nothing regenerated
    assert len({x["shard"] for x in log}) == len(log)

    a = sampling.load_samples(full, 6).to_list()
    b = sampling.load_samples(resumed, 6).to_list()
    assert sum(x["tokens"] for x in log) == sum(r["n_tokens"] for r in b)
    keys = [(r["id"], r["round"], r["sample_idx"]) for r in b]
    assert len(keys) == len(set(keys)) == 12
    assert keys == [(r["id"], r["round"], r["sample_idx"]) for r in a]
    assert [r["response"] for r in b] == [r["response"] for r in a]  # deterministic engine
