"""logs.py: verbosity levels, where our logs and bars go, and the engine log file."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from dart_hf import logs

log = logging.getLogger("dart_hf.test_logs")


@pytest.fixture(autouse=True)
def _bars_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    monkeypatch.delenv("HF_DATASETS_DISABLE_PROGRESS_BARS", raising=False)


def test_levels_are_set_for_one_command_and_restored(capsys: pytest.CaptureFixture) -> None:
    before = logs.verbosity()
    with logs.terminal(logs.QUIET):
        assert logs.verbosity() == logs.QUIET and logs.bars_disabled()
        assert logs.progress_bar(range(3)).disable
        log.warning("not shown")
        logs.announce("not shown either")
    assert logs.verbosity() == before
    with logs.terminal(logs.DEFAULT):
        assert not logs.bars_disabled()
        log.info("detail")
        log.warning("careful")
        logs.announce("engine log: somewhere")
    with logs.terminal(logs.VERBOSE):
        log.info("now shown")
    err = capsys.readouterr().err
    assert "not shown" not in err and "detail" not in err
    assert "warning: careful\n" in err and "engine log: somewhere\n" in err
    assert "test_logs info: now shown" in err  # -v: time, logger and level


@pytest.mark.parametrize("var", ["TQDM_DISABLE", "HF_DATASETS_DISABLE_PROGRESS_BARS"])
def test_bars_follow_the_libraries_switches(monkeypatch: pytest.MonkeyPatch, var: str) -> None:
    monkeypatch.setenv(var, "1")
    with logs.terminal(logs.DEFAULT):
        assert logs.bars_disabled() and logs.progress_bar(total=2).disable
    monkeypatch.setenv(var, "0")
    with logs.terminal(logs.DEFAULT):
        assert not logs.progress_bar(total=2, disable=False).disable


def test_the_log_file_goes_beside_the_output(tmp_path: Path) -> None:
    assert logs.log_file() is None
    with logs.terminal(logs.DEFAULT, out=tmp_path / "run"):
        assert logs.log_file() == tmp_path / "run" / logs.LOG_NAME
    with logs.terminal(logs.DEFAULT, out=tmp_path / "graded.jsonl"):
        assert logs.log_file() == tmp_path / logs.LOG_NAME  # an output file: its folder
    assert logs.log_file() is None


def test_engine_output_goes_to_the_log_file(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    with logs.terminal(logs.DEFAULT, out=tmp_path):
        with logs.engine_output("transformers"):
            os.write(1, b"engine chatter\n")
            os.write(2, b"compiler noise\n")
        os.write(1, b"ours again\n")
        with logs.engine_output("scripted"):  # the scripted engine has nothing to hide
            os.write(1, b"scripted\n")
    out, err = capfd.readouterr()
    text = (tmp_path / logs.LOG_NAME).read_text(encoding="utf-8")
    assert "transformers engine, pid" in text
    assert "engine chatter\n" in text and "compiler noise\n" in text
    assert "engine chatter" not in out + err and "ours again\n" in out and "scripted\n" in out
    assert f"engine log: {tmp_path / logs.LOG_NAME}" in err


def test_verbose_leaves_the_engine_on_the_terminal(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    with logs.terminal(logs.VERBOSE, out=tmp_path), logs.engine_output("vllm"):
        os.write(1, b"vllm says hi\n")
    assert "vllm says hi" in capfd.readouterr().out
    assert not (tmp_path / logs.LOG_NAME).exists()


def test_only_terminal_handlers_follow_the_engine_into_the_log_file(tmp_path: Path) -> None:
    """After an engine starts, transformers' own stderr handler writes to the log file; a
    handler someone else put on that logger (an application's, pytest's capture) keeps its
    stream."""
    import io
    import logging
    import sys

    tf = logging.getLogger("transformers")
    own, other = logging.StreamHandler(sys.stderr), logging.StreamHandler(io.StringIO())
    tf.addHandler(own)
    tf.addHandler(other)
    try:
        with logs.terminal(logs.DEFAULT, out=tmp_path), logs.engine_output("transformers"):
            pass
        assert own.stream is not sys.stderr and own.stream.name.endswith(logs.LOG_NAME)
        assert isinstance(other.stream, io.StringIO)
    finally:
        tf.removeHandler(own)
        tf.removeHandler(other)
