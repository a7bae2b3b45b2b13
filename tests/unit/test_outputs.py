"""outputs.py: the settings guard, content hashes, the folder lock, staged folders, disk full.

Whole commands meeting these (kill -9, a second run, a full disk) are in e2e/test_reliability.py;
here each function is checked alone."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
from datasets import Dataset

from dart_hf import outputs
from dart_hf.errors import DartError

FP = {
    "settings": {"k_u": 1, "model": "m"},
    "grader": {"grade_version": "1"},
    "data": {"queries": 2, "queries_hash": "aa", "gold_hash": "bb"},
}


def _with(**changes: dict) -> dict:
    return {k: {**v, **changes.get(k, {})} for k, v in FP.items()}


def test_a_record_is_written_then_compared(tmp_path: Path) -> None:
    record = tmp_path / "build.json"
    assert outputs.check_fingerprint(record, FP, what="a build", has_work=True) == "created"
    assert json.loads(record.read_text(encoding="utf-8")) == FP
    assert outputs.check_fingerprint(record, FP, what="a build", has_work=True) == "same"


def test_other_settings_are_refused_with_every_difference(tmp_path: Path) -> None:
    record = tmp_path / "build.json"
    outputs.check_fingerprint(record, FP, what="a build", has_work=True)
    new = _with(settings={"k_u": 2}, data={"gold_hash": "cc"})
    with pytest.raises(DartError) as err:
        outputs.check_fingerprint(record, new, what="a build", has_work=True, remedy="use -o X")
    assert str(err.value) == (
        f"{tmp_path} holds a build made with other settings: data.gold_hash changed (the gold "
        "answers changed); k_u 1 -> 2. Rerun with the same settings to resume, or use -o X"
    )
    assert json.loads(record.read_text(encoding="utf-8")) == FP  # never overwritten


def test_a_record_without_finished_work_is_replaced(tmp_path: Path) -> None:
    record = tmp_path / "build.json"
    outputs.check_fingerprint(record, FP, what="a build", has_work=False)
    new = _with(settings={"k_u": 2})
    assert outputs.check_fingerprint(record, new, what="a build", has_work=lambda: False) == ("replaced")
    assert json.loads(record.read_text(encoding="utf-8")) == new


def test_allowed_and_regradable_keys(tmp_path: Path) -> None:
    record = tmp_path / "build.json"
    outputs.check_fingerprint(record, FP, what="a build", has_work=True)
    new = _with(grader={"grade_version": "2"})
    with pytest.raises(
        DartError,
        match=r"grader.grade_version \"1\" -> \"2\" \(the grader "
        r"changed since this folder was made\).*, or run regrade, or use a new",
    ):
        outputs.check_fingerprint(
            record, new, what="a build", has_work=True, regradable=["grader"], regrade_remedy="run regrade"
        )
    assert (
        outputs.check_fingerprint(record, new, what="a build", has_work=True, allow=["grader"]) == "updated"
    )
    assert json.loads(record.read_text(encoding="utf-8")) == new


def test_records_of_an_older_layout(tmp_path: Path) -> None:
    record = tmp_path / "build.json"
    record.write_text(json.dumps({"settings": FP["settings"]}), encoding="utf-8")
    with pytest.raises(
        DartError,
        match="recorded by an older dart-hf .the record lacks data, grader.; use a new output folder",
    ):
        outputs.check_fingerprint(record, FP, what="a build", has_work=True)
    record.write_text("{not json", encoding="utf-8")
    with pytest.raises(DartError, match="is not a valid settings record"):
        outputs.check_fingerprint(record, FP, what="a build", has_work=True)


def test_content_hashes_follow_the_rows() -> None:
    a = Dataset.from_dict({"id": ["1", "2"], "query": ["x", "y"], "answer": ["3", "4"]})
    same = Dataset.from_list(
        [{"id": "1", "query": "x", "answer": "3"}, {"id": "2", "query": "y", "answer": "4"}]
    )
    fp = outputs.data_fingerprint(a)
    assert fp == outputs.data_fingerprint(same) and fp["queries"] == 2
    gold = outputs.data_fingerprint(a.map(lambda r: {"answer": r["answer"] + "0"}))
    assert gold["queries_hash"] == fp["queries_hash"] and gold["gold_hash"] != fp["gold_hash"]
    order = outputs.data_fingerprint(a.select([1, 0]))
    assert order["queries_hash"] != fp["queries_hash"]


def test_replace_folder_and_atomic_write(tmp_path: Path) -> None:
    final, staged = tmp_path / "rel", tmp_path / ".staging" / "rel"
    final.mkdir()
    (final / "old.txt").write_text("old", encoding="utf-8")
    outputs.atomic_write(staged / "README.md", "new\n")
    outputs.replace_folder(staged, final)
    assert sorted(p.name for p in final.iterdir()) == ["README.md"] and not staged.exists()
    assert not list(tmp_path.rglob("*.tmp-*")) and not (tmp_path / ".rel.old").exists()


def test_disk_full_is_one_message_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    tmp = tmp_path / ".x.parquet.tmp-12"
    tmp.write_text("half", encoding="utf-8")
    (tmp_path / "done.parquet").write_text("kept", encoding="utf-8")
    full = pytest.raises(DartError, match=r"^disk full while writing .*x\.parquet: free some")
    with full, outputs.disk_full(tmp_path, tmp_path):
        raise OSError(errno.ENOSPC, "No space left on device")
    assert not tmp.exists() and (tmp_path / "done.parquet").exists()
    with pytest.raises(PermissionError), outputs.disk_full(tmp_path):
        raise PermissionError(errno.EACCES, "denied")  # other errors pass through
    assert outputs.is_disk_full(OSError("IOError: No space left on device"))
    assert outputs.is_disk_full(OSError(errno.EDQUOT, "quota"))
    assert not outputs.is_disk_full(ValueError("No space left on device"))


def _release(path: Path, text: str) -> Path:
    path.mkdir(parents=True)
    (path / "README.md").write_text(text)
    return path


@pytest.mark.parametrize("kill_at", [2, 3])  # between the renames, or before the old copy goes
def test_a_kill_inside_replace_folder_leaves_no_old_copy_after_the_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kill_at: int
) -> None:
    """Issue 27.10: a kill during a release's move-in left `.<release>.old`, which no later
    run removed (a run that moves nothing in, or the kill fell between the two renames: then
    the release itself was missing)."""
    import shutil

    releases = tmp_path / "releases"
    final = _release(releases / "dart-math-uniform", "old")
    staged = _release(tmp_path / "staging" / "dart-math-uniform", "new")
    calls = []
    real_rename, real_rmtree = os.rename, shutil.rmtree

    def rename(a: object, b: object) -> None:
        calls.append("rename")
        if len(calls) == kill_at:
            raise KeyboardInterrupt
        real_rename(a, b)  # type: ignore[arg-type]

    def rmtree(p: object, ignore_errors: bool = False) -> None:
        calls.append("rmtree")
        if len(calls) == kill_at:
            raise KeyboardInterrupt
        real_rmtree(p, ignore_errors=ignore_errors)  # type: ignore[arg-type]

    monkeypatch.setattr(outputs.os, "rename", rename)
    monkeypatch.setattr(outputs.shutil, "rmtree", rmtree)
    with pytest.raises(KeyboardInterrupt):
        outputs.replace_folder(staged, final)
    monkeypatch.undo()
    old = releases / ".dart-math-uniform.old"
    assert old.is_dir()
    assert outputs.recover_replaced(releases) == [old]
    assert sorted(p.name for p in releases.iterdir()) == ["dart-math-uniform"]
    # the kill between the renames: the old copy is back; after them: the new one stays
    assert (final / "README.md").read_text() == ("old" if kill_at == 2 else "new")
