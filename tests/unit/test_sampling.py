"""Sampling stage: control logic on a fake engine, and the `dart-hf sample` CLI (real engines and
kill-and-resume: tests/integration/test_sampling_integration.py)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from datasets import Dataset

from dart_hf import engines
from dart_hf.cli import cli
from dart_hf.config import SamplingConfig
from dart_hf.engines import Completion, EngineSpec, GenerationParams
from dart_hf.errors import DartError
from dart_hf.folders import SamplingFolder
from dart_hf.sampling import shards as sampling

FAKE = EngineSpec(backend="scripted", options=(("test", "echo"),))


class EchoEngine:
    """Control-logic stand-in: a completion names its prompt, index and the call's seed."""

    def __init__(self, spec: EngineSpec) -> None:
        self.spec = spec
        self.calls: list[tuple[list[str], GenerationParams, list[int] | None]] = []

    def generate(self, prompts, params, n=None):
        self.calls.append((prompts, params, n))
        counts = n if n is not None else [params.n] * len(prompts)
        rng = random.Random(params.seed)
        return [
            [Completion(f"{p[6:20]}|{j}|{rng.random():.8f}", "stop" if j else "length", 5) for j in range(k)]
            for p, k in zip(prompts, counts, strict=True)
        ]

    def provenance(self):
        return {"engine": "echo", "engine_version": "0", "model": "m", "model_hash": "h"}

    def count_tokens(self, text: str) -> int:
        return len(text.split())


@pytest.fixture
def echo(monkeypatch: pytest.MonkeyPatch) -> EchoEngine:
    engine = EchoEngine(FAKE)
    monkeypatch.setitem(engines._ENGINES, FAKE, engine)
    return engine


def _queries(k: int = 5) -> Dataset:
    return Dataset.from_dict(
        {
            "id": [f"q/{i}" for i in range(k)],
            "source": ["gsm8k"] * k,
            "query": [f"question number {i}" for i in range(k)],
            "answer": [str(i) for i in range(k)],
            "level": [0] * k,
        }
    )


SAMPLING = SamplingConfig(n=2, temperature=0.8, top_p=0.95, max_tokens=32, template="deepseekmath")


def test_sample_batch_rows_and_columns(echo: EchoEngine) -> None:
    batch = _queries(3).to_dict()
    batch["n_samples"] = [2, 0, 3]
    batch["sample_offset"] = [0, 5, 10]
    out = sampling.sample_batch(batch, engine_spec=FAKE, sampling=SAMPLING, round=2, seed=1)
    assert list(out) == list(batch) + sampling.SAMPLE_COLUMNS
    assert out["id"] == ["q/0", "q/0", "q/2", "q/2", "q/2"]
    assert out["sample_idx"] == [0, 1, 10, 11, 12]
    assert set(out["round"]) == {2} and set(out["template"]) == {"deepseekmath"}
    assert out["temperature"][0] == 0.8 and out["max_tokens"][0] == 32
    assert set(out["engine"]) == {"echo"} and set(out["model_hash"]) == {"h"}
    prompts, params, n = echo.calls[-1]
    assert n == [2, 0, 3] and params.stop == ("User:", "Assistant:")
    assert prompts[0].startswith("User: question number 0\n")
    assert params.seed == sampling.shard_seed(1, 2, 0)


def test_shard_seeds_differ_by_round_shard_and_seed() -> None:
    seeds = {sampling.shard_seed(s, r, k) for s in range(3) for r in range(3) for k in range(3)}
    assert len(seeds) == 27
    assert sampling.shard_seed(0, 1, 2) == sampling.shard_seed(0, 1, 2)


def test_map_fingerprint_follows_fn_kwargs(echo: EchoEngine) -> None:
    q = _queries(2)

    def fp(**kw):
        kwargs = {"engine_spec": FAKE, "sampling": SAMPLING, "round": 0, "seed": 0, **kw}
        return q.map(
            sampling.sample_batch, batched=True, fn_kwargs=kwargs, remove_columns=q.column_names
        )._fingerprint

    assert fp() == fp()
    assert len({fp(), fp(round=1), fp(seed=1), fp(sampling=SamplingConfig(n=3, template="qa"))}) == 4


def test_run_sampling_shards_and_resume(echo: EchoEngine, tmp_path: Path) -> None:
    out = tmp_path / "s"
    kw = {"engine_spec": FAKE, "sampling": SAMPLING, "round": 0, "seed": 3, "shard_size": 2}
    ds = sampling.run_sampling(_queries(5), out, progress=False, **kw)
    assert len(ds) == 10 and len(echo.calls) == 3
    files = sorted(out.glob("shard-*.parquet"))
    assert [f.name for f in files] == [f"shard-{k:05d}.parquet" for k in range(3)]
    assert [c[1].seed for c in echo.calls] == [sampling.shard_seed(3, 0, k) for k in range(3)]
    log = [json.loads(x) for x in (out / "shards.jsonl").read_text().splitlines()]
    assert [x["shard"] for x in log] == [0, 1, 2] and sum(x["tokens"] for x in log) == 50
    stamp = {f: (f.stat().st_mtime_ns, f.read_bytes()) for f in files}
    files[1].unlink()  # as if killed during shard 1
    (out / ".shard-00001.parquet.tmp-999").write_bytes(b"partial")
    again = sampling.run_sampling(_queries(5), out, progress=False, **kw)
    assert len(echo.calls) == 4  # only shard 1 regenerated
    assert again.to_list() == ds.to_list()
    for f in (files[0], files[2]):
        assert (f.stat().st_mtime_ns, f.read_bytes()) == stamp[f]
    assert not list(out.glob(".shard-*"))
    assert len((out / "shards.jsonl").read_text().splitlines()) == 4


def test_run_sampling_refuses_other_settings(echo: EchoEngine, tmp_path: Path) -> None:
    kw = {"engine_spec": FAKE, "round": 0, "seed": 0, "shard_size": 2, "progress": False}
    sampling.run_sampling(_queries(3), tmp_path, sampling=SAMPLING, **kw)
    with pytest.raises(DartError, match="other settings: sampling.max_tokens 32 -> 512"):
        sampling.run_sampling(_queries(3), tmp_path, sampling=SamplingConfig(n=3, template="qa"), **kw)
    with pytest.raises(DartError, match="queries"):
        sampling.run_sampling(_queries(4), tmp_path, sampling=SAMPLING, **kw)


def test_run_sampling_empty_and_zero_counts(echo: EchoEngine, tmp_path: Path) -> None:
    q = _queries(3).add_column("n_samples", [0, 0, 0]).add_column("sample_offset", [0, 0, 0])
    ds = sampling.run_sampling(q, tmp_path, engine_spec=FAKE, sampling=SAMPLING, shard_size=2, progress=False)
    assert len(ds) == 0 and "response" in ds.column_names


# ---------------------------------------------------------------- CLI


def _invoke(args: list[str]):
    return CliRunner().invoke(cli, ["sample", *args])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--template", "nope"], "unknown template 'nope'; valid: alpaca, chat, deepseekmath, qa"),
        (["--engine", "tgi"], "unknown engine 'tgi'; valid: openai, scripted, transformers, vllm"),
        (["--model", "./no/such/folder"], "model path './no/such/folder' does not exist"),
        (["--n", "0"], "n must be >= 1, got 0"),
        (["--temperature", "-0.5"], "temperature must be >= 0, got -0.5"),
        (["--limit", "0"], "limit must be >= 1, got 0"),
        (["--shard-size", "0"], "shard_size must be >= 1, got 0"),  # was silently 64
        (["--temperature", "nan"], "temperature must be a finite number"),  # was written as NaN
        (["--top-p", "inf"], "top_p must be a finite number"),
        (["--pool", "nosuchpool"], "unknown pool 'nosuchpool'"),
    ],
)
def test_cli_bad_input(args: list[str], message: str, tmp_path: Path) -> None:
    pool = [] if "--pool" in args else ["--pool", "gsm8k"]
    result = _invoke([*pool, *args, "-o", str(tmp_path / "o")])
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_cli_needs_pool(tmp_path: Path) -> None:
    result = _invoke(["-o", str(tmp_path)])
    assert result.exit_code != 0 and "no query pool" in result.output


def test_cli_help_documents_the_command() -> None:
    result = CliRunner().invoke(cli, ["sample", "--help"])
    assert result.exit_code == 0
    assert "resumable parquet shards" in result.output and "-o, --out" in result.output


def test_cli_runs_with_the_scripted_engine(tmp_path: Path) -> None:
    from dart_hf.sources import load_pool

    table = tmp_path / "table.parquet"
    load_pool("gsm8k", limit=4).to_parquet(str(table))
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"engine_options": {"table": str(table)}}))
    args = ["--pool", "gsm8k", "--engine", "scripted", "--limit", "4", "--n", "3"]
    args += ["--template", "deepseekmath", "--config", str(recipe), "--shard-size", "3"]
    result = _invoke([*args, "-o", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert "12 completions for 4 queries" in result.output
    assert len(list((tmp_path / "o").glob("shard-*.parquet"))) == 2


# ---------------------------------------------------------------- real engines


# ---------------------------------------------------------------- kill and resume


def test_a_shard_whose_log_line_a_kill_prevented_is_logged_once(echo: EchoEngine, tmp_path: Path) -> None:
    """A kill between a shard's rename and its `shards.jsonl` line: the rerun generates nothing
    again, gives the shard a line read from its file, and the totals count every shard once."""
    out = tmp_path / "s"
    kw = {"engine_spec": FAKE, "sampling": SAMPLING, "round": 0, "seed": 3, "shard_size": 2}
    sampling.run_sampling(_queries(5), out, progress=False, **kw)
    log = SamplingFolder(out).shard_log
    lines = log.read_text().splitlines()
    log.write_text("\n".join(lines[:1]) + "\n" + lines[1][:10])  # shard 1 unlogged, 2 cut short
    sampling.run_sampling(_queries(5), out, progress=False, **kw)
    assert len(echo.calls) == 3  # nothing sampled twice
    again = [json.loads(x) for x in log.read_text().splitlines()[2:]]  # after the cut line
    assert [(x["shard"], x["recovered"], x["completions"], x["tokens"]) for x in again] == [
        (1, True, 4, 20),
        (2, True, 2, 10),
    ]
    totals = sampling.generation_totals([out])
    assert (totals["shards"], totals["completions"], totals["tokens"]) == (3, 10, 50)
    sampling.run_sampling(_queries(5), out, progress=False, **kw)  # logged now: no new line
    assert len(log.read_text().splitlines()) == 4  # shard 0, the cut line, shards 1 and 2


def test_generation_totals_count_every_run_once(tmp_path: Path) -> None:
    first, second = tmp_path / "seed-0", tmp_path / "seed-1"
    first.mkdir()
    second.mkdir()
    lines = [
        {"shard": 0, "completions": 4, "tokens": 100, "wall_s": 2.0, "pid": 11},
        {"shard": 1, "completions": 4, "tokens": 60, "wall_s": 2.0, "pid": 22},  # resumed
    ]
    SamplingFolder(first).shard_log.write_text(
        "".join(json.dumps(x) + "\n" for x in lines) + '{"shard": 2, "compl'  # killed mid-line
    )
    SamplingFolder(second).shard_log.write_text(
        json.dumps({"shard": 0, "completions": 0, "tokens": 0, "skipped": True}) + "\n"
    )
    assert sampling.generation_totals([first, second, tmp_path / "absent"]) == {
        "shards": 2,
        "completions": 8,
        "tokens": 160,
        "wall_s": 4.0,
        "tokens_per_s": 40.0,
        "processes": 2,
    }
    assert sampling.generation_totals([])["tokens_per_s"] is None
