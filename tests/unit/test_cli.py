"""Every command is documented: it has help text, `--help` works, and the README mentions it."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from dart_hf.cli import cli

README = Path(__file__).resolve().parents[2] / "README.md"


def _commands() -> list[str]:
    return sorted(cli.commands)


def test_group_help_lists_every_command() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0, result.output
    for name in _commands():
        assert name in result.output


def test_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert "dart-hf" in result.output


@pytest.mark.parametrize("name", _commands())
def test_command_has_help(name: str) -> None:
    command = cli.commands[name]
    assert isinstance(command, click.Command)
    assert (command.help or "").strip(), f"command {name!r} has no help text"
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0, result.output
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            assert (param.help or "").strip() or param.is_flag or param.name == "help", (
                f"option {param.opts} of {name!r} has no help text"
            )


@pytest.mark.parametrize("name", _commands())
def test_command_in_readme(name: str) -> None:
    assert f"dart-hf {name}" in README.read_text(encoding="utf-8"), (
        f"README does not document `dart-hf {name}`"
    )


@pytest.mark.parametrize("name", _commands())
def test_output_option_is_o_out(name: str) -> None:
    command = cli.commands[name]
    for param in command.params:
        if isinstance(param, click.Option) and "--output" in param.opts:
            pytest.fail(f"{name!r} uses --output; the toolkit's output option is -o/--out")
        if isinstance(param, click.Option) and "--out" in param.opts:
            assert "-o" in param.opts, f"{name!r}: --out must also be -o"


def test_executor_options() -> None:
    from dart_hf.cli import executor_spec
    from dart_hf.errors import DartError

    assert executor_spec({}) is None
    spec = executor_spec({"data_parallel": 2})
    assert spec.kind == "ray" and spec.data_parallel == 2 and spec.address is None
    assert executor_spec({"ray_address": "local"}).address is None
    assert executor_spec({"ray_address": "ray://head:10001"}).address == "ray://head:10001"
    options = {"tensor_parallel_size": 2, "engine_options": {"kv_cache_gib": 1}}
    assert executor_spec(options) is None
    assert options["engine_options"] == {"kv_cache_gib": 1, "tensor_parallel_size": 2}
    with pytest.raises(DartError, match="must be >= 1"):
        executor_spec({"data_parallel": 0})


# --------------------------------------------------------------------------- what it prints


def test_every_command_has_quiet_and_verbose() -> None:
    for name, command in cli.commands.items():
        opts = {opt for param in command.params for opt in getattr(param, "opts", [])}
        assert {"-q", "--quiet", "-v", "--verbose"} <= opts, name
    result = CliRunner().invoke(cli, ["pools", "-q", "-v"])
    assert result.exit_code == 2 and "exclude each other" in result.output


def test_version_is_the_package_version() -> None:
    from dart_hf import __version__

    result = CliRunner().invoke(cli, ["--version"])
    assert result.output.strip() == f"dart-hf, version {__version__}"


def test_progress_bar_honours_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from dart_hf import logs

    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    monkeypatch.delenv("HF_DATASETS_DISABLE_PROGRESS_BARS", raising=False)
    assert not logs.progress_bar(total=1).disable
    for name in ("TQDM_DISABLE", "HF_DATASETS_DISABLE_PROGRESS_BARS"):
        monkeypatch.setenv(name, "1")
        assert logs.progress_bar(total=1).disable
        monkeypatch.delenv(name)
    with logs.terminal(logs.QUIET):
        assert logs.progress_bar(total=1).disable
    assert not logs.progress_bar(total=1).disable


def test_log_handler_levels(capsys: pytest.CaptureFixture[str]) -> None:
    import logging

    from dart_hf import logs

    log = logging.getLogger("dart_hf.test")
    for level, shown in (
        (logs.QUIET, {"error"}),
        (logs.DEFAULT, {"warning", "error"}),
        (logs.VERBOSE, {"info", "warning", "error"}),
    ):
        with logs.terminal(level):
            log.info("said info")
            log.warning("said warning")
            log.error("said error")
        err = capsys.readouterr().err
        seen = {word for word in ("info", "warning", "error") if f"{word}: said {word}" in err}
        assert seen == shown, (level, err)
    assert logging.getLogger("dart_hf").handlers == []  # restored after the command
