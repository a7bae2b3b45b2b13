"""`dart_hf.hub.push` through huggingface_hub's public API only: a lost commit answer is followed
by a pre-upload of new operations, and no private name of the library is read."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest
from helpers import hub_samples as _samples
from hub_server import fake_hub
from huggingface_hub import constants as hf_constants

from dart_hf.hub import folder as hub
from dart_hf.hub import push

TOKEN = "hf_TestTokenDoNotLeak0123456789"


@pytest.fixture
def online(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hf_constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    monkeypatch.setattr(hf_constants, "HF_HUB_DISABLE_XET", True)  # the fake Hub speaks LFS
    monkeypatch.delenv("HF_TOKEN", raising=False)


def test_lost_commit_with_large_files_preuploads_new_operations(
    online: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub

    folder = tmp_path / "rel"
    hub.write_hub_folder({"default": _samples()}, folder)
    made: list[object] = []
    real = huggingface_hub.CommitOperationAdd

    def counted(*args: object, **kwargs: object) -> object:
        made.append(op := real(*args, **kwargs))  # type: ignore[arg-type]
        return op

    monkeypatch.setattr(huggingface_hub, "CommitOperationAdd", counted)
    files = hub.staged_files(folder)
    with fake_hub(TOKEN, lfs_suffixes=(".parquet",)) as (url, state):
        state.faults.append(("commit", "lost"))  # applied, answer lost
        result = push.push_folder(folder, "tester/x", token=TOKEN, endpoint=url, backoff_s=0.01)
        repo = state.repos["tester/x"]
        log = list(state.log)
    assert result.startswith(f"{url}/datasets/tester/x/commit/")
    assert len(repo.commits) == 1 and set(repo.files) == set(files)
    assert len(made) == 2 * len(files)  # the retry started from new operations
    assert sum(1 for _, path, _ in log if "/preupload/" in path) == 2  # modes asked afresh
    assert sum(1 for method, _, _ in log if method == "PUT") == 1  # stored once
    assert sum(1 for _, path, _ in log if "/commit/" in path) == 1  # nothing left: no commit


def test_push_reads_no_private_name_of_another_module() -> None:
    """Only `self._...` (HubSession's own) may be read: a private attribute of
    huggingface_hub's objects may be renamed by its next release."""
    tree = ast.parse(inspect.getsource(push))
    private = [
        f"{ast.unparse(node)} (line {node.lineno})"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr.startswith("_")
        and not node.attr.startswith("__")
        and not (isinstance(node.value, ast.Name) and node.value.id == "self")
    ]
    imports = [
        f"{alias.name} (line {node.lineno})"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("huggingface_hub")
        for alias in node.names
        if alias.name.startswith("_") or "._" in (node.module or "")
    ]
    assert private == [] and imports == []
