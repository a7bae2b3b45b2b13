"""Pushing to a local fake Hub (tests/hub_server.py): committed files, retries, resumable
failures, no token leaks (staging without a Hub: tests/unit/test_hub_unit.py)."""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from datasets import Dataset
from helpers import hub_samples as _samples
from hub_server import fake_hub
from huggingface_hub import DatasetCard
from huggingface_hub import constants as hf_constants

from dart_hf.cli import cli
from dart_hf.errors import DartError
from dart_hf.hub import folder as hub
from dart_hf.hub import push

TOKEN = "hf_TestTokenDoNotLeak0123456789"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tree(folder: Path) -> dict[str, str]:
    return {p: _sha(folder / p) for p in hub.staged_files(folder)}


# --------------------------------------------------------------------------- staging


# --------------------------------------------------------------------------- push


@pytest.fixture
def online(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Let huggingface_hub talk to the local fake Hub; no stored login from the machine."""
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hf_constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    monkeypatch.delenv("HF_TOKEN", raising=False)


@pytest.fixture
def release(tmp_path: Path) -> Path:
    folder = tmp_path / "dart-math-hard"
    hub.write_hub_folder({"default": _samples()}, folder)
    (folder / "images").mkdir()
    (folder / "images" / "plot.png").write_bytes(b"\x89PNG fake image bytes")
    return folder


def _no_token_anywhere(root: Path, *texts: str) -> None:
    for text in texts:
        assert TOKEN not in text
    for path in root.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path


def test_push_commits_the_staged_files_with_retries(
    online: None,
    release: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    before = _tree(release)
    retried: list[tuple[str, str]] = []
    with fake_hub(TOKEN) as (url, state):
        state.faults += [("create", "drop"), ("commit", 429)]
        result = push.push_folder(
            release,
            None,
            token=TOKEN,
            endpoint=url,
            backoff_s=0.01,
            on_retry=lambda step, exc: retried.append((step, type(exc).__name__)),
        )
        repo = state.repos["tester/dart-math-hard"]
        committed = {p: hashlib.sha256(b).hexdigest() for p, b in repo.files.items()}
        log = list(state.log)
    assert committed == before
    assert _tree(release) == before  # staged folder untouched
    assert retried == [("create_repo", "RemoteProtocolError"), ("commit", "HfHubHTTPError")]
    assert ("POST", "/api/repos/create", 0) in log  # the dropped connection
    assert ("POST", "/api/datasets/tester/dart-math-hard/commit/main", 429) in log
    assert result.startswith(url) and "/datasets/tester/dart-math-hard/commit/" in result
    out = capsys.readouterr()
    _no_token_anywhere(tmp_path, out.out, out.err, caplog.text, result)


def test_push_lfs_path_and_rerun_skips_unchanged(
    online: None, release: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hf_constants, "HF_HUB_DISABLE_XET", True)
    with fake_hub(TOKEN, lfs_suffixes=(".parquet", ".png")) as (url, state):
        push.push_folder(release, "dart-org/hard", token=TOKEN, endpoint=url, backoff_s=0.01)
        repo = state.repos["dart-org/hard"]
        assert repo.lfs == {"data/train-00000-of-00001.parquet", "images/plot.png"}
        assert {p: hashlib.sha256(b).hexdigest() for p, b in repo.files.items()} == _tree(release)
        puts = [entry for entry in state.log if entry[0] == "PUT"]
        push.push_folder(release, "dart-org/hard", token=TOKEN, endpoint=url, backoff_s=0.01)
        assert [entry for entry in state.log if entry[0] == "PUT"] == puts  # nothing re-uploaded
        assert len(repo.commits) == 1  # nothing changed: no second commit


def test_push_failure_says_what_was_uploaded_and_how_to_resume(
    online: None, release: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(hf_constants, "HF_HUB_DISABLE_XET", True)
    before = _tree(release)
    with fake_hub(TOKEN, lfs_suffixes=(".parquet",)) as (url, state):
        state.faults += [("commit", 503)] * 3
        with pytest.raises(DartError) as err:
            push.push_folder(release, None, token=TOKEN, endpoint=url, retries=2, backoff_s=0.01)
        message = str(err.value)
        assert "1 of 1 large files were uploaded" in message
        assert "data/train-00000-of-00001.parquet" in message
        assert f"resume with the same command: dart-hf push {release} --repo tester/dart-math-hard" in message
        assert state.repos["tester/dart-math-hard"].files == {}
        assert _tree(release) == before
        # resuming: the large file is not sent again
        push.push_folder(release, "tester/dart-math-hard", token=TOKEN, endpoint=url)
        assert sum(1 for e in state.log if e[0] == "PUT") == 1
        assert set(state.repos["tester/dart-math-hard"].files) == set(before)
    _no_token_anywhere(tmp_path, message)


def test_push_gives_up_on_non_retryable_errors(online: None, release: Path) -> None:
    with fake_hub(TOKEN) as (url, state):
        with pytest.raises(DartError, match="was not created; nothing was uploaded") as err:
            push.push_folder(release, "someone-else/x", token=TOKEN, endpoint=url, backoff_s=0.01)
        assert sum(1 for e in state.log if e[1] == "/api/repos/create") == 1  # 403: no retry
        assert TOKEN not in str(err.value)


def test_push_without_or_with_a_bad_token(online: None, release: Path) -> None:
    with fake_hub(TOKEN) as (url, _):
        with pytest.raises(DartError, match="no Hugging Face token"):
            push.push_folder(release, None, endpoint=url)
        with pytest.raises(DartError, match="refused the token") as err:
            push.push_folder(release, None, token="hf_wrong_secret", endpoint=url)
        assert "hf_wrong_secret" not in str(err.value)


def test_push_refuses_offline_and_unstaged(release: Path, tmp_path: Path) -> None:
    with pytest.raises(DartError, match="not a staged release"):
        push.push_folder(tmp_path / "nothing", None, token=TOKEN)
    if hf_constants.is_offline_mode():
        with pytest.raises(DartError, match="HF_HUB_OFFLINE"):
            push.push_folder(release, None, token=TOKEN)
    (release / "loader.py").write_text("x = 1\n")
    with pytest.raises(DartError, match="loading scripts"):
        push.push_folder(release, None, token=TOKEN)


def test_pushed_dataset_loads_by_repo_id(online: None, release: Path, tmp_path: Path) -> None:
    with fake_hub(TOKEN) as (url, _):
        push.push_folder(release, "dart-org/dart-math-hard", token=TOKEN, endpoint=url)
        env = {
            **os.environ,
            "HF_ENDPOINT": url,
            "HF_HUB_OFFLINE": "0",
            "HF_DATASETS_OFFLINE": "0",
            "HF_HOME": str(tmp_path / "hf-home"),
            "HF_TOKEN": TOKEN,
        }
        code = (
            "from datasets import load_dataset\n"
            "ds = load_dataset('dart-org/dart-math-hard', split='train')\n"
            "print(ds.num_rows, dict(ds.features))\n"
            "print(ds[3]['response'])\n"
        )
        proc = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
        )
    assert proc.returncode == 0, proc.stderr[-2000:]
    expected = _samples()
    assert proc.stdout.splitlines()[0] == f"20 {dict(expected.features)}"
    assert proc.stdout.splitlines()[1] == expected[3]["response"]
    assert TOKEN not in proc.stdout + proc.stderr


def test_staged_folder_equals_what_push_to_hub_uploads(online: None, tmp_path: Path) -> None:
    """Real `Dataset.push_to_hub` (in a subprocess, against the fake Hub) vs `write_hub_folder`:
    same paths, same parquet bytes, same README YAML."""
    samples, queries = _samples(), Dataset.from_dict({"id": ["a", "b"], "samples": [3, 4]})
    samples.save_to_disk(str(tmp_path / "s"))
    queries.save_to_disk(str(tmp_path / "q"))
    code = (
        "import sys\n"
        "from datasets import load_from_disk\n"
        "s, q = load_from_disk(sys.argv[1]), load_from_disk(sys.argv[2])\n"
        "s.push_to_hub('tester/single')\n"
        "s.push_to_hub('tester/multi', 'samples', set_default=True)\n"
        "q.push_to_hub('tester/multi', 'queries')\n"
    )
    with fake_hub(TOKEN, lfs_suffixes=(".parquet",)) as (url, state):
        env = {
            **os.environ,
            "HF_ENDPOINT": url,
            "HF_HUB_OFFLINE": "0",
            "HF_DATASETS_OFFLINE": "0",
            "HF_HUB_DISABLE_XET": "1",
            "HF_HOME": str(tmp_path / "hf-home"),
            "HF_TOKEN": TOKEN,
        }
        proc = subprocess.run(
            [sys.executable, "-c", code, str(tmp_path / "s"), str(tmp_path / "q")],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        pushed = {rid: dict(repo.files) for rid, repo in state.repos.items()}
    hub.write_hub_folder({"default": samples}, tmp_path / "single")
    hub.write_hub_folder({"samples": samples, "queries": queries}, tmp_path / "multi")
    for name in ("single", "multi"):
        ours = {p: (tmp_path / name / p).read_bytes() for p in hub.staged_files(tmp_path / name)}
        theirs = pushed[f"tester/{name}"]
        assert sorted(ours) == sorted(theirs)
        ours_yaml = DatasetCard(ours.pop("README.md").decode()).data.to_dict()
        theirs_yaml = DatasetCard(theirs.pop("README.md").decode()).data.to_dict()
        assert ours_yaml == theirs_yaml
        for path, data in ours.items():  # same writer, same batch size: identical bytes
            assert hashlib.sha256(data).hexdigest() == hashlib.sha256(theirs[path]).hexdigest()


# --------------------------------------------------------------------------- CLI


def test_cli_push(online: None, release: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with fake_hub(TOKEN) as (url, state):
        monkeypatch.setenv("HF_ENDPOINT", url)
        monkeypatch.setenv("HF_TOKEN", TOKEN)
        state.faults.append(("commit", 429))
        result = CliRunner().invoke(
            cli, ["push", str(release), "--org", "dart-org", "--private"], catch_exceptions=False
        )
        assert result.exit_code == 0, result.output
        assert result.output.count("commit: HTTP 429") == 1, result.output  # one line per retry
        assert f"pushed: {url}/datasets/dart-org/dart-math-hard/commit/" in result.output
        repo = state.repos["dart-org/dart-math-hard"]
        assert repo.private
        assert {p: hashlib.sha256(b).hexdigest() for p, b in repo.files.items()} == _tree(release)
    _no_token_anywhere(tmp_path, result.output)


def test_cli_push_errors_are_clean(online: None, release: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with fake_hub(TOKEN) as (url, _):
        monkeypatch.setenv("HF_ENDPOINT", url)
        result = CliRunner().invoke(cli, ["push", str(release)])
        assert result.exit_code == 1
        assert "Error: no Hugging Face token: set HF_TOKEN" in result.output
        assert "Traceback" not in result.output
        monkeypatch.setenv("HF_TOKEN", TOKEN)
        result = CliRunner().invoke(cli, ["push", str(release), "--repo", "a/b", "--org", "c"])
        assert result.exit_code == 1 and "conflicts" in result.output
    result = CliRunner().invoke(cli, ["push", str(release / "nope")])
    assert result.exit_code == 2 and "does not exist" in result.output


# --------------------------------------------------------------------------- trained models


@pytest.fixture
def model_folder(tmp_path: Path) -> Path:
    """The files `dart-hf train` writes, with a checkpoint that must stay local."""
    out = tmp_path / "sft"
    (out / "checkpoints" / "checkpoint-2").mkdir(parents=True)
    (out / "checkpoints" / "checkpoint-2" / "model.safetensors").write_bytes(b"old" * 100)
    (out / "model.safetensors").write_bytes(bytes(range(256)) * 64)
    (out / "config.json").write_text('{"model_type": "llama"}', encoding="utf-8")
    (out / "training.json").write_text('{"steps": 2}', encoding="utf-8")
    (out / "README.md").write_text("---\nlicense: apache-2.0\n---\n# sft\n", encoding="utf-8")
    return out


def test_push_model_goes_to_a_model_repo_with_retries(
    online: None, model_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dart_hf.training.train import push_model

    monkeypatch.setattr(hf_constants, "HF_HUB_DISABLE_XET", True)  # the fake Hub speaks LFS

    retried: list[str] = []
    with fake_hub(TOKEN, lfs_suffixes=(".safetensors",)) as (url, state):
        state.faults += [("create", 503), ("commit", 429)]
        result = push_model(
            model_folder,
            "dart-org/sft",
            private=True,
            token=TOKEN,
            endpoint=url,
            backoff_s=0.01,
            on_retry=lambda step, exc: retried.append(step),
        )
        repo = state.repos["models/dart-org/sft"]
        assert "dart-org/sft" not in state.repos  # not a dataset repo
        committed = {p: hashlib.sha256(b).hexdigest() for p, b in repo.files.items()}
    assert retried == ["create_repo", "commit"]
    assert result.startswith(f"{url}/dart-org/sft/commit/")
    assert repo.private and "model.safetensors" in repo.lfs
    expected = {p: h for p, h in _tree(model_folder).items() if not p.startswith("checkpoints/")}
    assert committed == expected and set(expected) == {
        "README.md",
        "config.json",
        "model.safetensors",
        "training.json",
    }


def test_push_model_failure_and_cli_resume(
    online: None, model_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dart_hf.training.train import push_model

    monkeypatch.setattr(hf_constants, "HF_HUB_DISABLE_XET", True)  # the fake Hub speaks LFS
    with pytest.raises(DartError, match="not a dart-hf training output"):
        push_model(tmp_path, "dart-org/sft", token=TOKEN)
    with fake_hub(TOKEN, lfs_suffixes=(".safetensors",)) as (url, state):
        state.faults.append(("commit", 403))  # not retried: a refusal
        with pytest.raises(DartError) as err:
            push_model(model_folder, "dart-org/sft", token=TOKEN, endpoint=url, backoff_s=0.01)
        message = str(err.value)
        assert "1 of 1 large files were uploaded" in message and "no commit was made" in message
        assert f"dart-hf push {model_folder} --repo dart-org/sft" in message
        assert state.repos["models/dart-org/sft"].files == {}
        # The command the message names resumes the push: the LFS file is not sent again.
        monkeypatch.setenv("HF_ENDPOINT", url)
        monkeypatch.setenv("HF_TOKEN", TOKEN)
        puts = sum(1 for method, _, _ in state.log if method == "PUT")
        result = CliRunner().invoke(cli, ["push", str(model_folder), "--repo", "dart-org/sft"])
        assert result.exit_code == 0, result.output
        assert f"pushed: {url}/dart-org/sft/commit/" in result.output
        assert sum(1 for method, _, _ in state.log if method == "PUT") == puts
        assert "checkpoints/checkpoint-2/model.safetensors" not in state.repos["models/dart-org/sft"].files
    _no_token_anywhere(tmp_path, message, result.output)


# --------------------------------------------------------------------------- like `hf upload`


class _Clock:
    """Stands in for the `time` module of huggingface_hub's backoff and of dart_hf.hub.push."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)

    def __getattr__(self, name: str) -> object:
        import time

        return getattr(time, name)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    import huggingface_hub.utils._http as hf_http

    from dart_hf.hub import push

    fake = _Clock()
    monkeypatch.setattr(hf_http, "time", fake)
    monkeypatch.setattr(push, "time", fake)
    return fake


def _requests(log: list[tuple[str, str, int]], part: str) -> int:
    return sum(1 for _, path, _ in log if part in path)


def test_preupload_and_lfs_are_retried_by_huggingface_hub_only(
    online: None, release: Path, clock: _Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A step huggingface_hub retries itself is not retried again on top (36 -> 6 requests)."""
    monkeypatch.setattr(hf_constants, "HF_HUB_DISABLE_XET", True)
    for step, part in (("preupload", "/preupload/"), ("lfs_batch", "/info/lfs/objects/batch")):
        with fake_hub(TOKEN, lfs_suffixes=(".parquet",)) as (url, state):
            state.faults += [(step, 503)] * 50
            with pytest.raises(DartError, match="resume with the same command") as err:
                push.push_folder(release, "tester/x", token=TOKEN, endpoint=url, retries=5)
            assert _requests(state.log, part) == 6  # huggingface_hub's 1 + 5, was 6 x 6
            assert "HTTP 503" in str(err.value)
    with fake_hub(TOKEN, lfs_suffixes=(".parquet",)) as (url, state):
        state.faults += [("preupload", 503)]  # one refusal: huggingface_hub's retry suffices
        push.push_folder(release, "tester/x", token=TOKEN, endpoint=url, retries=5)
        assert _requests(state.log, "/preupload/") == 2
        assert len(state.repos["tester/x"].commits) == 1


def test_refused_commit_is_retried_honouring_retry_after(
    online: None, release: Path, clock: _Clock, caplog: pytest.LogCaptureFixture
) -> None:
    with fake_hub(TOKEN) as (url, state):
        state.faults += [("commit", 429), ("commit", 503)]
        push.push_folder(release, "tester/x", token=TOKEN, endpoint=url, retries=2)
        assert _requests(state.log, "/commit/") == 3
        assert len(state.repos["tester/x"].commits) == 1
    assert clock.waits == [0.0, 0.0]  # the fake Hub says Retry-After: 0
    retries = [r.getMessage() for r in caplog.records if "retry" in r.getMessage()]
    assert len(retries) == 2 and retries[0].startswith("commit: HTTP 429")
    with fake_hub(TOKEN) as (url, state):  # --retries 0: no retry at all
        state.faults += [("commit", 429)]
        with pytest.raises(DartError, match="0 retries"):
            push.push_folder(release, "tester/x", token=TOKEN, endpoint=url, retries=0)
        assert _requests(state.log, "/commit/") == 1


def test_retry_after_and_backoff_waits(clock: _Clock) -> None:
    import email.utils
    import time

    import httpx2
    from huggingface_hub.errors import HfHubHTTPError

    from dart_hf.hub.push import retry_after_s, with_retries

    def refusal(headers: dict[str, str]) -> HfHubHTTPError:
        request = httpx2.Request("POST", "http://hub/api/x")
        response = httpx2.Response(503, headers=headers, request=request)
        return HfHubHTTPError("503", response=response)

    assert retry_after_s(refusal({"Retry-After": "7"})) == 7.0
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= (retry_after_s(refusal({"Retry-After": later})) or 0) <= 31
    assert retry_after_s(refusal({})) is None
    errors = [refusal({"Retry-After": "120"}), refusal({}), refusal({}), refusal({})]

    def flaky() -> str:
        if errors:
            raise errors.pop(0)
        return "ok"

    assert with_retries("commit", flaky, retries=4, backoff_s=1.0, max_wait_s=60.0) == "ok"
    assert clock.waits == [60.0, 2.0, 4.0, 8.0]  # Retry-After capped at max_wait_s; 1, 2, 4...
    errors[:] = [refusal({})] * 3
    with pytest.raises(HfHubHTTPError):
        with_retries("commit", flaky, retries=2, backoff_s=1.0)


def test_lost_commit_answer_is_not_committed_twice(online: None, release: Path, clock: _Clock) -> None:
    with fake_hub(TOKEN) as (url, state):
        state.faults.append(("commit", "lost"))  # applied, answer lost: the retry must see it
        result = push.push_folder(release, "tester/x", token=TOKEN, endpoint=url)
        repo = state.repos["tester/x"]
        assert len(repo.commits) == 1 and set(repo.files) == set(hub.staged_files(release))
        assert result.startswith(f"{url}/datasets/tester/x/commit/")
    with fake_hub(TOKEN) as (url, state):  # a pull request is not retried after a lost answer
        state.faults.append(("commit", "lost"))
        with pytest.raises(DartError, match="a pull request may have been opened") as err:
            push.push_folder(release, "tester/x", token=TOKEN, endpoint=url, create_pr=True)
        assert f"{url}/datasets/tester/x/discussions" in str(err.value)
        assert len(state.repos["tester/x"].prs) == 1


def test_cli_push_revision_and_pull_request(
    online: None, release: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with fake_hub(TOKEN) as (url, state):
        monkeypatch.setenv("HF_ENDPOINT", url)
        push = ["push", str(release), "--repo", "dart-org/hard", "--token", TOKEN]
        result = CliRunner().invoke(cli, [*push, "--revision", "v1"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        repo = state.repos["dart-org/hard"]
        assert repo.files == {} and set(repo.branches["v1"].files) == set(hub.staged_files(release))
        (release / "README.md").write_text(
            (release / "README.md").read_text() + "\nA fix.\n", encoding="utf-8"
        )
        args = [
            *push,
            "--create-pr",
            "--commit-message",
            "Fix the card",
            "--commit-description",
            "Adds a line.",
        ]
        result = CliRunner().invoke(cli, args, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert f"pushed: {url}/datasets/dart-org/hard/discussions/1" in result.output
        assert repo.prs == [
            {"num": 1, "target": "main", "title": "Fix the card", "description": "Adds a line."}
        ]
        assert b"A fix." in repo.branches["refs/pr/1"].files["README.md"]
        assert repo.files == {}  # main untouched by a pull request
        agents = {h.get("User-Agent", h.get("user-agent", "")) for h in state.headers_seen}
    from dart_hf import __version__

    ours = f"dart-hf/{__version__}"
    assert all(ours in agent for agent in agents if "hf_hub" in agent), agents
    assert any(ours in agent for agent in agents)
    _no_token_anywhere(tmp_path, result.output)


def test_push_messages_name_the_cause(
    online: None, release: Path, clock: _Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setenv("HF_ENDPOINT", dead)
    result = CliRunner().invoke(cli, ["push", str(release)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    error = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(error) == 1 and f"cannot reach the Hub at {dead}" in error[0]
    assert "check the network connection or HF_ENDPOINT" in error[0]
    with fake_hub(TOKEN) as (url, state):
        monkeypatch.setenv("HF_ENDPOINT", url)
        state.faults += [("whoami", 500)] * 6
        result = CliRunner().invoke(cli, ["push", str(release)])
        assert "HTTP 500" in result.output and "try again later" in result.output
        assert "refused the token" not in result.output
        monkeypatch.setenv("HF_TOKEN", "hf_wrong")
        result = CliRunner().invoke(cli, ["push", str(release)])
        assert "refused the token from HF_TOKEN (HTTP 401" in result.output  # issue 27.11:
        assert "set HF_TOKEN to a valid token" in result.output  # the token's own source
        result = CliRunner().invoke(cli, ["push", str(release), "--repo", "tester/x"])
        assert "refused the token" in result.output and "resume" not in result.output
        assert "hf_wrong" not in result.output


def test_push_folders_names_every_release_not_pushed(online: None, tmp_path: Path, clock: _Clock) -> None:
    folders = []
    for name in ("dart-math-uniform", "dart-math-hard", "vrt"):
        hub.write_hub_folder({"default": _samples(n=3)}, tmp_path / name)
        folders.append(tmp_path / name)
    with fake_hub(TOKEN) as (url, state):
        state.faults += [("commit", "pass"), ("commit", 400)]
        with pytest.raises(DartError) as err:
            push.push_folders(folders, org="dart-org", token=TOKEN, endpoint=url)
        message = str(err.value)
        assert message.startswith(
            f"2 of 3 releases not pushed (dart-math-hard, vrt) (they are staged in {tmp_path});"
            " pushed: dart-math-uniform. dart-math-hard: push of"
        )
        for folder in folders[1:]:
            assert f"dart-hf push {folder} --org dart-org" in message
        assert _requests(state.log, "whoami") == 0
        assert set(state.repos) == {"dart-org/dart-math-uniform", "dart-org/dart-math-hard"}
        urls = push.push_folders(folders, org="dart-org", token=TOKEN, endpoint=url)
        assert len(urls) == 3 and len(state.repos["dart-org/vrt"].commits) == 1


# --------------------------------------------------------------------------- card metadata


def test_fake_hub_rejects_an_invalid_card(online: None, release: Path) -> None:
    from hub_server import validate_card

    text = (release / "README.md").read_text(encoding="utf-8")
    bad = text.replace("---\n", "---\nlicense: not-a-licence\nsize_categories:\n- n>1B\n", 1)
    assert validate_card(bad, "dataset") == [
        "\"license\" must be one of the Hub licence ids, got 'not-a-licence'",
        "\"size_categories\" value 'n>1B' is not one of the Hub's",
    ]
    assert validate_card("---\nlicense: other\n---\n", "dataset") == [
        '"license: other" needs "license_name" (and a LICENSE file or license_link)'
    ]
    assert validate_card("---\nlicense: other\nlicense_name: x\n---\n", "dataset") == []
    (release / "README.md").write_text(bad, encoding="utf-8")
    with fake_hub(TOKEN) as (url, state):
        with pytest.raises(DartError, match="not-a-licence") as err:
            push.push_folder(release, "tester/x", token=TOKEN, endpoint=url)
        assert "Invalid metadata in README.md" in str(err.value)
        assert "n>1B" in str(err.value)
        assert state.repos["tester/x"].files == {}


def test_cli_prints_each_retry_once(online: None, release: Path, tmp_path: Path) -> None:
    """One line per retry: ours (commit) and huggingface_hub's own (pre-upload), whose two
    lines per retry the default verbosity joins."""
    with fake_hub(TOKEN) as (url, state):
        state.faults += [("preupload", 503), ("commit", 429)]
        env = {
            **os.environ,
            "HF_ENDPOINT": url,
            "HF_TOKEN": TOKEN,
            "HF_HUB_OFFLINE": "0",
            "HF_HOME": str(tmp_path / "hf-home"),
        }
        proc = subprocess.run(
            [sys.executable, "-m", "dart_hf", "push", str(release), "--repo", "tester/x"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert [line for line in lines if "503" in line] == [
        f"warning: HTTP Error 503 thrown while requesting POST {url}/api/datasets/tester/x/"
        "preupload/main; rate limited. Waiting 1.0s before retry [Retry 1/5]."
    ]
    assert [line for line in lines if "429" in line] == [
        "warning: commit: HTTP 429 (injected fault); retry 1/5 in 0 s"
    ]
    assert not [line for line in lines if "Retrying in" in line]
    assert proc.stdout.startswith(f"pushed: {url}/datasets/tester/x/commit/")
    assert TOKEN not in proc.stdout + proc.stderr


def test_cli_build_push_names_every_release_not_pushed(
    online: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: _Clock
) -> None:
    recipe = tmp_path / "scripted.yaml"
    recipe.write_text(
        "engine: scripted\npool: gsm8k,math\nlimit: 4\ntemplate: deepseekmath\n"
        "temperature: 1.0\nmax_tokens: 4096\nstrategies: uniform,prop2diff\nk_u: 1\nk_p: 2\n"
        "max_trials: 4\ndifficulty_samples: 2\nround_cap: 2\nshard_size: 4\nnum_proc: 1\n",
        encoding="utf-8",
    )
    out = tmp_path / "run"
    with fake_hub(TOKEN) as (url, state):
        monkeypatch.setenv("HF_ENDPOINT", url)
        monkeypatch.setenv("HF_TOKEN", TOKEN)
        state.faults += [("commit", "pass"), ("commit", 400)]
        args = ["build", "--config", str(recipe), "--push", "--org", "dart-org", "-o", str(out)]
        result = CliRunner().invoke(cli, [*args, "-q"])
        pushed = sorted(r for r, repo in state.repos.items() if repo.commits)
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    releases = sorted(p.name for p in (out / "releases").iterdir())
    assert len(releases) == 3 and len(pushed) == 1
    missing = [name for name in releases if f"dart-org/{name}" not in pushed]
    assert "2 of 3 releases not pushed (" in errors[0] and "; pushed: " in errors[0]
    for name in missing:
        assert f"dart-hf push {out / 'releases' / name} --org dart-org" in errors[0]
    _no_token_anywhere(tmp_path, result.output)


def test_cli_push_model_folder_to_a_branch(
    online: None, model_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hf_constants, "HF_HUB_DISABLE_XET", True)  # the fake Hub speaks LFS
    with fake_hub(TOKEN, lfs_suffixes=(".safetensors",)) as (url, state):
        monkeypatch.setenv("HF_ENDPOINT", url)
        args = [
            "push",
            str(model_folder),
            "--repo",
            "dart-org/sft",
            "--revision",
            "step-2",
            "--commit-message",
            "Step 2",
            "--token",
            TOKEN,
        ]
        result = CliRunner().invoke(cli, args, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        repo = state.repos["models/dart-org/sft"]
        branch = repo.branches["step-2"]
        assert "model.safetensors" in branch.files and repo.files == {}
        assert branch.messages == [("Step 2", "")]
        assert not any(p.startswith("checkpoints/") for p in branch.files)
    assert TOKEN not in result.output
