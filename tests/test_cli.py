"""Every command is documented: it has help text, `--help` works, and the README mentions it."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from dart_hf.cli import cli

README = Path(__file__).resolve().parents[1] / "README.md"


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
    options = {"tensor_parallel": 2, "engine_options": {"kv_cache_gib": 1}}
    assert executor_spec(options) is None
    assert options["engine_options"] == {"kv_cache_gib": 1, "tensor_parallel_size": 2}
    with pytest.raises(DartError, match="must be >= 1"):
        executor_spec({"data_parallel": 0})
