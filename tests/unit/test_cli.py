"""Every command is documented: it has help text, `--help` works, and the README mentions it."""

from __future__ import annotations

import re
import sys
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
    options = {"tensor_parallel_size": 2, "engine_options": {"kv_cache_gib": 1}}
    assert executor_spec(options) is None
    assert options["engine_options"] == {"kv_cache_gib": 1, "tensor_parallel_size": 2}
    with pytest.raises(DartError, match="must be >= 1"):
        executor_spec({"data_parallel": 0})


# --------------------------------------------------------------------------- what it prints

SCRIPTED_RECIPE = """\
engine: scripted
pool: gsm8k,math
limit: 6
template: deepseekmath
temperature: 1.0
max_tokens: 4096
strategies: uniform
k_u: 2
max_trials: 8
difficulty_samples: 2
round_cap: 4
no_correct_min_samples: 8
shard_size: 4
num_proc: 1
"""
BAR = re.compile(r"\d+%\||it/s|compl/s|\bba/s")


@pytest.fixture(scope="module")
def recipe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("recipe") / "scripted.yaml"
    path.write_text(SCRIPTED_RECIPE, encoding="utf-8")
    return path


def _build(recipe: Path, out: Path, *flags: str, env: dict[str, str] | None = None) -> str:
    args = ["build", "--config", str(recipe), "-o", str(out), *flags]
    result = CliRunner().invoke(cli, args, env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


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


def _summary(out: Path) -> str:
    """What the build prints at the end: the statistics table, then a line per release."""
    from dart_hf.stats import format_table, load_stats

    return format_table(load_stats(out / "stats.json")).strip()


def test_default_quiet_and_no_bars(recipe: Path, tmp_path: Path) -> None:
    """Default: our bars and the summary, no INFO lines; -q: the summary alone; TQDM_DISABLE:
    no bar of ours, of datasets or of huggingface_hub."""
    default = _build(recipe, tmp_path / "default")
    assert "sampling round 0" in default and BAR.search(default)
    assert _summary(tmp_path / "default") in default and "uniform: " in default
    assert "Creating parquet" not in default  # datasets' own bars are -v detail
    assert not [line for line in default.splitlines() if line.startswith("info:")]
    sys.path.insert(0, str(Path(__file__).parent))
    from hub_server import validate_card  # the Hub's documented licences and categories

    for card in sorted((tmp_path / "default" / "releases").glob("*/README.md")):
        assert validate_card(card.read_text(encoding="utf-8"), "dataset") == [], card
    quiet = _build(recipe, tmp_path / "quiet", "-q").strip()
    table = _summary(tmp_path / "quiet")
    assert quiet.startswith(table), quiet  # nothing before the summary
    rest = quiet[len(table) :].strip().splitlines()
    assert rest and all(
        re.fullmatch(rf"[\w-]+: {re.escape(str(tmp_path / 'quiet'))}/releases/[\w-]+", line)
        for line in rest
    ), rest
    for env in ({"TQDM_DISABLE": "1"}, {"HF_DATASETS_DISABLE_PROGRESS_BARS": "1"}):
        out = _build(recipe, tmp_path / next(iter(env)), env=env)
        assert not BAR.search(out) and "sampling round" not in out, out
        assert _summary(tmp_path / next(iter(env))) in out


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
    for level, shown in ((logs.QUIET, {"error"}), (logs.DEFAULT, {"warning", "error"}),
                         (logs.VERBOSE, {"info", "warning", "error"})):  # fmt: skip
        with logs.terminal(level):
            log.info("said info")
            log.warning("said warning")
            log.error("said error")
        err = capsys.readouterr().err
        seen = {word for word in ("info", "warning", "error") if f"{word}: said {word}" in err}
        assert seen == shown, (level, err)
    assert logging.getLogger("dart_hf").handlers == []  # restored after the command


VLLM_RECIPE = """\
engine: vllm
engine_options: {enforce_eager: true, kv_cache_gib: 1}
max_model_len: 2048
pool: gsm8k
limit: 2
n: 1
max_tokens: 16
"""
VLLM_LINE = re.compile(r"(?:^|\) )(?:INFO|WARNING|DEBUG) \d\d-\d\d \d\d:\d\d:\d\d|EngineCore", re.M)


@pytest.mark.integration
def test_default_sample_on_vllm_keeps_engine_output_in_the_log(tmp_path: Path) -> None:
    """A default `dart-hf sample` on the real vLLM engine: the bar and the summary in the
    terminal, the engine's own lines (its engine-core process included) in OUT/dart-hf.log."""
    import os
    import subprocess
    import sys

    pytest.importorskip("vllm")
    recipe = tmp_path / "vllm.yaml"
    recipe.write_text(VLLM_RECIPE, encoding="utf-8")
    out = tmp_path / "out"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "VLLM_CPU_NUM_OF_RESERVED_CPU": "0"}  # fmt: skip
    env.pop("TQDM_DISABLE", None)
    proc = subprocess.run(
        [sys.executable, "-m", "dart_hf", "sample", "--config", str(recipe), "-o", str(out)],
        env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    terminal = proc.stdout + proc.stderr
    assert proc.returncode == 0, terminal[-3000:]
    assert "sampling round 0" in terminal and "tok/s" in terminal
    assert terminal.count(f"engine log: {out / 'dart-hf.log'}") == 1
    assert not VLLM_LINE.search(terminal), VLLM_LINE.search(terminal)
    assert proc.stdout.strip(), "no summary"
    log = (out / "dart-hf.log").read_text(encoding="utf-8")
    assert VLLM_LINE.search(log) and "EngineCore" in log


def test_grade_keeps_its_map_bar(tmp_path: Path) -> None:
    """`grade`'s work is a datasets map, so its bar stays at the default level (not with -q)."""
    import json

    rows = [{"response": f"$\\boxed{{{i}}}$", "answer": str(i)} for i in range(3)]
    data = tmp_path / "in.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    default = CliRunner().invoke(cli, ["grade", str(data), "-o", str(tmp_path / "a.jsonl")])
    assert default.exit_code == 0, default.output
    assert BAR.search(default.output) and "accuracy" in default.output
    quiet = CliRunner().invoke(cli, ["grade", str(data), "-o", str(tmp_path / "b.jsonl"), "-q"])
    assert quiet.exit_code == 0 and not BAR.search(quiet.output) and "accuracy" in quiet.output
