"""Issue 27, phase 1: bad inputs as a user gives them, each a clear one-line error (or every
row read), never a traceback, silently lost rows, or a value recorded as another.

Fast: no engine, no subprocess, no build (the CLI runs through `CliRunner` and stops before
any engine starts). Whole commands, real engines and signals: `tests/e2e/test_reliability.py`.
"""

from __future__ import annotations

import errno
import json
import logging
import re
import sys
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from dart_hf import sources
from dart_hf.cli import cli
from dart_hf.config import BuildConfig, DarsConfig
from dart_hf.errors import DartError
from dart_hf.hub import folder as hub
from dart_hf.hub import push
from dart_hf.recipe import load_recipe

TESTS = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def no_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every error here comes before an engine starts: one that starts fails the test at once
    (and a regression cannot start vLLM from a fast test)."""
    from dart_hf import engines
    from dart_hf.sampling import shards as sampling

    def refuse(spec: object) -> None:
        raise AssertionError(f"an engine was started: {spec}")

    monkeypatch.setattr(engines, "get_engine", refuse)
    monkeypatch.setattr(sampling, "get_engine", refuse)


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _gsm8k(n: int, start: int = 0) -> list[dict]:
    return [{"question": f"What is {i} + 1?", "answer": f"x #### {i + 1}"} for i in range(start, start + n)]


def _sample(args: list[str], tmp_path: Path, command: str = "sample") -> str:
    """`dart-hf sample --engine scripted ...` through click: the error, as a user sees it."""
    res = CliRunner().invoke(cli, [command, "--engine", "scripted", *args, "-o", str(tmp_path / "out")])
    assert res.exit_code == 1, res.output
    assert "Traceback" not in res.output
    return res.output


# ------------------------------------------------------------------ item 2: pool folders


def test_a_folder_mixing_file_types_is_refused_naming_the_files(tmp_path: Path) -> None:
    """Issue 27.2: a.jsonl (3 rows) beside b.parquet (3 rows) built from the 3 parquet rows."""
    folder = tmp_path / "pool"
    folder.mkdir()
    _jsonl(folder / "a.jsonl", _gsm8k(3))
    pq.write_table(pa.Table.from_pylist(_gsm8k(3, start=3)), folder / "b.parquet")
    out = _sample(["--pool", str(folder)], tmp_path)
    assert "holds data files of more than one type (json: a.jsonl; parquet: b.parquet)" in out
    # a quoted glob reads exactly what it matches (here every row of the parquet file)
    loaded = sources.load_pool_source(str(folder / "*.parquet"))
    assert loaded.rows_read == 3 and loaded.dataset["answer"] == ["4", "5", "6"]


def test_data_files_no_split_takes_are_refused(tmp_path: Path) -> None:
    """A file named like a split (test.jsonl) made datasets skip every other data file."""
    folder = tmp_path / "pool"
    folder.mkdir()
    _jsonl(folder / "rows.jsonl", _gsm8k(3))
    _jsonl(folder / "test.jsonl", _gsm8k(2, start=10))
    with pytest.raises(DartError, match=r"rows.jsonl would not be read: files named like a split"):
        sources.load_pool(folder)


def test_other_files_beside_the_data_are_named_as_not_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "pool"
    folder.mkdir()
    _jsonl(folder / "a.jsonl", _gsm8k(2))
    _jsonl(folder / "b.jsonl", _gsm8k(2, start=2))
    (folder / "notes.txt").write_text("where these came from")
    (folder / "README.md").write_text("# a card without YAML\n")
    with caplog.at_level(logging.WARNING):
        assert len(sources.load_pool(folder)) == 4  # every row of both files
    assert "read 2 json file(s); not read (not data files): notes.txt" in caplog.text
    assert "README.md" not in caplog.text
    (tmp_path / "prose").mkdir()
    (tmp_path / "prose" / "notes.txt").write_text("x")
    with pytest.raises(DartError, match=r"prose holds no data files .*; it holds notes.txt"):
        sources.load_pool(tmp_path / "prose")


# ------------------------------------------------------------------ item 11: misleading errors


def test_one_column_as_question_and_answer_is_named_as_such(tmp_path: Path) -> None:
    """Issue 27.11: it was reported as a missing column."""
    pool = _jsonl(tmp_path / "qa.jsonl", [{"q": "What is 1+1?", "a": "2"}])
    res = CliRunner().invoke(
        cli,
        [
            "build",
            "--engine",
            "scripted",
            "--pool",
            str(pool),
            "--query-column",
            "q",
            "--answer-column",
            "q",
            "-o",
            str(tmp_path / "o"),
        ],
    )
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert "--query-column and --answer-column name the same column 'q'" in res.output
    assert "has no column" not in res.output


@pytest.mark.parametrize("layout", ["file", "folder", "one of two shards"])
def test_an_empty_parquet_pool_says_so(layout: str, tmp_path: Path) -> None:
    """Issue 27.11: a parquet file of zero rows gave datasets' 'An error occurred while
    generating the dataset'."""
    empty = pa.table({"question": pa.array([], pa.string()), "answer": pa.array([], pa.string())})
    folder = tmp_path / "pool"
    folder.mkdir()
    pq.write_table(empty, folder / "a.parquet")
    if layout == "one of two shards":
        pq.write_table(pa.Table.from_pylist(_gsm8k(2)), folder / "b.parquet")
    ref = folder / "a.parquet" if layout == "file" else folder
    out = _sample(["--pool", str(ref)], tmp_path)
    if layout == "one of two shards":
        assert "a.parquet hold(s) no rows, which datasets cannot read beside other files" in out
    else:
        assert f"{ref} is empty (no rows)" in out
    assert "DatasetGenerationError" not in out


def test_a_full_datasets_cache_names_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 27.11 (fault injection; a real full disk: tests/e2e/test_reliability.py)."""
    pool = _jsonl(tmp_path / "p.jsonl", _gsm8k(2))

    def full(*_a: object, **_k: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(datasets, "load_dataset", full)
    out = _sample(["--pool", str(pool)], tmp_path)
    assert f"disk full while datasets wrote its cache for {pool} (in " in out
    assert "HF_DATASETS_CACHE" in out


# ------------------------------------------------------------------ item 12: silently accepted


@pytest.mark.parametrize(
    ("row", "flags", "message"),
    [
        ({"query": 5, "answer": "5"}, [], "row 1: column 'query' holds an integer 5, not text"),
        ({"query": ["What", "is"], "answer": "5"}, [], "column 'query' holds a list"),
        ({"query": {"text": "Q"}, "answer": "5"}, [], "column 'query' holds a mapping"),
        (
            {"messages": [{"role": "user", "content": "What is 2+3?"}], "answer": "5"},
            ["--query-column", "messages"],
            "column 'messages' (--query-column) holds chat messages [{'role': 'user'",
        ),
        (
            {"query": "What is 2+3?", "answer": ["5"]},
            [],
            "column 'answer' holds a list ['5'], not text or a number",
        ),
        (
            {"query": "What is 2+3?", "final": {"value": 5}},
            ["--answer-column", "final"],
            "column 'final' (--answer-column) holds a mapping {'value': 5}",
        ),
        ({"query": "What is 2+3?", "answer": True}, [], "column 'answer' holds a boolean"),
        (
            {"question": "What is 2+3?", "answer": ["#### 5"]},
            ["--query-column", "question"],
            "column 'answer' holds a list",
        ),
    ],
)
def test_a_cell_that_is_not_text_is_an_error_naming_column_and_type(
    row: dict, flags: list[str], message: str, tmp_path: Path
) -> None:
    """Issue 27.12: such cells were turned into their str() and released."""
    pool = _jsonl(tmp_path / "p.jsonl", [row])
    out = _sample(["--pool", str(pool), *flags], tmp_path, "build" if flags else "sample")
    assert f"{pool} row 1: column" in out and message in out, out


def test_numbers_are_golds_as_written_and_mixed_columns_keep_their_text(tmp_path: Path) -> None:
    """A gold answer may be a number (42 -> "42"); a column mixing text and numbers was read
    as JSON text, which released the gold '"1\\/2"' with its quotes."""
    pool = _jsonl(
        tmp_path / "p.jsonl",
        [{"query": "Q1", "answer": "1/2"}, {"query": "Q2", "answer": 3}, {"query": "Q3", "answer": 0.25}],
    )
    assert sources.load_pool(pool)["answer"] == ["1/2", "3", "0.25"]


def test_math_level_question_mark_is_an_error_unless_it_is_a_known_row(tmp_path: Path) -> None:
    """Issue 27.12: MATH-format `Level ?` became a null level (only a log line said so)."""
    rows = [
        {"problem": "What is 1+1?", "solution": "$\\boxed{2}$", "level": "Level 2", "type": "Algebra"},
        {"problem": "What is 2+2?", "solution": "$\\boxed{4}$", "level": "Level ?", "type": "Algebra"},
    ]
    out = _sample(["--pool", str(_jsonl(tmp_path / "m.jsonl", rows))], tmp_path)
    assert "m.jsonl row 2: level 'Level ?' is not a MATH level (Level 1-5)" in out
    # MATH's own two `Level ?` rows keep the levels the reference code gives them
    known = [{**rows[1], "unique_id": "train/geometry/377.json"}]
    assert sources.load_pool(_jsonl(tmp_path / "k.jsonl", known))["level"] == [2]


def test_an_empty_recipe_file_is_refused(tmp_path: Path) -> None:
    """Issue 27.12: an empty recipe ran the full default build (vLLM, both pools)."""
    for text in ("", "# settings to come\n", "null\n"):
        (tmp_path / "r.yaml").write_text(text, encoding="utf-8")
        res = CliRunner().invoke(
            cli, ["build", "--config", str(tmp_path / "r.yaml"), "-o", str(tmp_path / "o")]
        )
        assert res.exit_code == 1 and "Traceback" not in res.output
        assert f"{tmp_path / 'r.yaml'}: the recipe holds no settings" in res.output
        assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["build", "--engine", "scripted", "--config", "{recipe}"],
            "the scripted engine has no option 'batchsize' (engine_options / --engine-option); "
            "valid: delay_s, glitch_rate, level_pass_rates, request_log, table, timing",
        ),
        (
            ["eval", "--engine", "transformers", "--engine-option", "enforce_eager=true"],
            "the transformers engine has no option 'enforce_eager'",
        ),
        (
            ["eval", "--engine", "vllm", "--engine-option", "batch_size=4"],
            "the vllm engine has no option 'batch_size'",
        ),
        (
            ["sample", "--pool", "gsm8k", "--engine", "transformers", "--tensor-parallel-size", "2"],
            "--tensor-parallel-size (tensor_parallel_size) splits one vLLM engine over GPUs; "
            "the transformers engine has no such setting",
        ),
    ],
)
def test_unknown_engine_options_are_refused_before_any_engine_starts(
    args: list[str], message: str, tmp_path: Path
) -> None:
    """Issue 27.12: unknown engine options were ignored."""
    recipe = tmp_path / "r.yaml"
    recipe.write_text("engine_options:\n  batchsize: 4\n", encoding="utf-8")
    args = [a.replace("{recipe}", str(recipe)) for a in args]
    res = CliRunner().invoke(cli, [*args, "-o", str(tmp_path / "o")])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert message in res.output, res.output
    assert len([line for line in res.output.splitlines() if line.startswith("Error")]) == 1


def test_every_engine_declares_the_options_it_reads() -> None:
    from dart_hf.engines import BACKENDS, backend_class

    for name in BACKENDS:
        options = backend_class(name).OPTIONS
        assert isinstance(options, frozenset) and all(isinstance(o, str) for o in options)
    assert BuildConfig(engine="scripted", engine_options={"table": "t", "delay_s": 0})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("k_u: 2\nlimit: 3\nk_u: 5\n", "r.yaml line 3: key 'k_u' is given twice (first on line 1)"),
        ("build:\n  k_p: 2\n  k_p: 3\n", "line 3: key 'k_p' is given twice (first on line 2)"),
        ("engine_options:\n  delay_s: 0\n  delay_s: 1\n", "line 3: key 'delay_s' is given twice"),
    ],
)
def test_duplicate_yaml_keys_are_refused(text: str, message: str, tmp_path: Path) -> None:
    """Issue 27.12: PyYAML keeps the last of two equal keys without a word."""
    (tmp_path / "r.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(DartError, match=re.escape(message)):
        load_recipe(str(tmp_path / "r.yaml"))


def test_yaml_merge_keys_are_not_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("base: &b {k_u: 2}\nbuild:\n  <<: *b\n  k_u: 3\n", encoding="utf-8")
    with pytest.raises(DartError, match="unknown setting"):  # `base` is no setting, but no
        load_recipe(str(path))  # duplicate: a key beside `<<` overrides the merged one


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--seed", "123456789012345678901234567890"],
            "seed must be a whole number from 0 to 4294967295 (vLLM and NumPy take 32-bit seeds), "
            "got 123456789012345678901234567890",
        ),
        (["--seed", "-1"], "seed must be a whole number from 0 to 4294967295"),
    ],
)
def test_a_huge_seed_is_refused_naming_the_range(flags: list[str], message: str, tmp_path: Path) -> None:
    """Issue 27.12: the seed went through a float and was recorded as another number
    (123456789012345677877719597056)."""
    res = CliRunner().invoke(cli, ["build", "--engine", "scripted", *flags, "-o", str(tmp_path / "o")])
    assert res.exit_code == 1 and message in res.output and "Traceback" not in res.output


def test_whole_numbers_are_kept_exactly() -> None:
    assert BuildConfig(engine="scripted", seed=2**32 - 1).seed == 2**32 - 1
    from dart_hf.config import check_value

    big = 2**53 - 1  # a float would round its neighbours
    assert check_value("budget", big, int) == big and check_value("budget", str(big), int) == big
    with pytest.raises(DartError, match="budget must be a whole number of at most"):
        check_value("budget", 10**30, int, "r.yaml")


def test_a_garbled_parquet_file_fails_the_push_check(tmp_path: Path) -> None:
    """Issue 27.12: bytes garbled mid-file passed (only the footer was read)."""
    ds = datasets.Dataset.from_dict({"query": [f"question {i} " * 20 for i in range(3000)]})
    hub.write_hub_folder({"default": ds}, tmp_path / "rel")
    shard = next((tmp_path / "rel" / "data").glob("*.parquet"))
    data = bytearray(shard.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = b"\xff" * 64
    shard.write_bytes(bytes(data))
    pq.read_metadata(shard)  # the footer is intact
    problems = hub.check_hub_folder(tmp_path / "rel")
    assert len(problems) == 1 and "train-00000-of-00001.parquet: not a readable parquet" in (problems[0])
    with pytest.raises(DartError, match="not viewer-ready: data/train-00000-of-00001.parquet"):
        push.push_folder(tmp_path / "rel", "me/x", token="hf_x")


@pytest.mark.parametrize("where", ["releases/.staging/dart-math-hard", "releases/.dart-math-hard.old"])
def test_a_release_still_staged_or_left_over_is_not_pushable(where: str, tmp_path: Path) -> None:
    """Issue 27.12: `releases/.staging/<name>` (a release being written) could be pushed."""
    folder = tmp_path / "run" / where
    hub.write_hub_folder({"default": datasets.Dataset.from_dict({"query": ["q"]})}, folder)
    res = CliRunner().invoke(cli, ["push", str(folder), "--token", "hf_x"])
    assert res.exit_code == 1 and "Traceback" not in res.output
    final = tmp_path / "run" / "releases" / "dart-math-hard"
    assert f"push {final}" in res.output


def test_private_push_to_an_existing_public_repo_uploads_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 27.12: `push --private` to an existing public repo published into it silently."""
    from huggingface_hub import constants as hf_constants

    sys.path.insert(0, str(TESTS))
    from hub_server import Repo, fake_hub

    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hf_constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    folder = tmp_path / "dart-math-hard"
    hub.write_hub_folder({"default": datasets.Dataset.from_dict({"query": ["q"]})}, folder)
    with fake_hub("hf_secret_token") as (url, state):
        state.repos["tester/public"] = Repo(private=False)
        with pytest.raises(DartError) as err:
            push.push_folder(folder, "tester/public", private=True, token="hf_secret_token", endpoint=url)
        assert state.repos["tester/public"].files == {}  # nothing published
        assert "already exists and is public" in str(err.value)
        assert "hf repos settings tester/public --private --type dataset" in str(err.value)
        # a new repo is made private, and a private one is pushed to as before
        push.push_folder(folder, "tester/new", private=True, token="hf_secret_token", endpoint=url)
        assert state.repos["tester/new"].private and state.repos["tester/new"].files
        push.push_folder(folder, "tester/new", private=True, token="hf_secret_token", endpoint=url)
        # without --private the public repo is pushed to, as `hf upload` does
        push.push_folder(folder, "tester/public", token="hf_secret_token", endpoint=url)
        assert state.repos["tester/public"].files


# ------------------------------------------------------------------ item 13: recipe values


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            b"engine: scripted\nk_u: 1000000000000000000000000000000\n",
            "r.yaml: k_u must be a whole number of at most 100000, got 1000000000000000000000000000000",
        ),
        (
            b"engine: scripted\nbuild:\n  max_trials: 99999999999\n",
            "r.yaml `build:`: max_trials must be a whole number of at most 100000",
        ),
        (
            b"engine: scripted\ndescription: caf\xe9 au lait\n",
            "r.yaml line 2: bytes that are not UTF-8 (b'\\xe9' in 'description: caf",
        ),
        (
            b"engine: scripted\nengine_options:\n  level_pass_rates: {0: 0.5}\n",
            "r.yaml: engine_options.level_pass_rates must be a value or a list of values, "
            "got a mapping {0: 0.5}",
        ),
    ],
)
@pytest.mark.parametrize("command", ["build", "sample", "eval"])
def test_recipe_values_that_gave_tracebacks_are_one_line_errors(
    body: bytes, message: str, command: str, tmp_path: Path
) -> None:
    """Issue 27.13: an overflow in numpy, a UnicodeDecodeError, an unhashable dict."""
    (tmp_path / "r.yaml").write_bytes(body)
    res = CliRunner().invoke(cli, [command, "--config", str(tmp_path / "r.yaml"), "-o", str(tmp_path / "o")])
    assert res.exit_code == 1 and "Traceback" not in res.output, res.output
    errors = [line for line in res.output.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and message in errors[0], res.output


def test_counts_are_bounded_for_the_python_api_too() -> None:
    with pytest.raises(DartError, match="k_u must be at most 100000"):
        DarsConfig(k_u=10**30)
    assert DarsConfig(max_trials=100_000, round_cap=100_000).max_trials == 100_000
    options = BuildConfig(engine="scripted", engine_options={"level_pass_rates": [0.5, 0.4]})
    assert options.engine_options == (("level_pass_rates", (0.5, 0.4)),)  # hashable
    hash(options)
