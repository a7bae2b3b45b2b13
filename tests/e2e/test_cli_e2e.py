"""What `dart-hf build` and `dart-hf grade` print, run end to end (scripted engine, grading
pool)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from dart_hf.cli import cli

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


def _summary(out: Path) -> str:
    """What the build prints at the end: the statistics table, then a line per release."""
    from dart_hf.build.stats import format_table, load_stats

    return format_table(load_stats(out / "stats.json")).strip()


def test_default_quiet_and_no_bars(recipe: Path, tmp_path: Path) -> None:
    """Default: our bars and the summary, no INFO lines; -q: the summary alone; TQDM_DISABLE:
    no bar of ours, of datasets or of huggingface_hub."""
    default = _build(recipe, tmp_path / "default")
    assert "sampling round 0" in default and BAR.search(default)
    assert _summary(tmp_path / "default") in default and "uniform: " in default
    assert "Creating parquet" not in default  # datasets' own bars are -v detail
    assert not [line for line in default.splitlines() if line.startswith("info:")]
    from hub_server import validate_card  # the Hub's documented licences and categories

    for card in sorted((tmp_path / "default" / "releases").glob("*/README.md")):
        assert validate_card(card.read_text(encoding="utf-8"), "dataset") == [], card
    quiet = _build(recipe, tmp_path / "quiet", "-q").strip()
    table = _summary(tmp_path / "quiet")
    assert quiet.startswith(table), quiet  # nothing before the summary
    rest = quiet[len(table) :].strip().splitlines()
    assert rest and all(
        re.fullmatch(rf"[\w-]+: {re.escape(str(tmp_path / 'quiet'))}/releases/[\w-]+", line) for line in rest
    ), rest
    for env in ({"TQDM_DISABLE": "1"}, {"HF_DATASETS_DISABLE_PROGRESS_BARS": "1"}):
        out = _build(recipe, tmp_path / next(iter(env)), env=env)
        assert not BAR.search(out) and "sampling round" not in out, out
        assert _summary(tmp_path / next(iter(env))) in out


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
