"""perf/compare_outputs.py on hand-written trees: what is not a difference."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from helpers import REPO

sys.path.insert(0, str(REPO / "perf"))
import compare_outputs as co  # noqa: E402


def test_timing_lines_and_local_paths_are_not_differences(tmp_path: Path) -> None:
    for seconds, name, root in ((3, "old", "/tmp/x/old-tree"), (4, "new", "/work/main")):
        d = tmp_path / name / "eval"
        (d / "predictions").mkdir(parents=True)
        (d / "results.json").write_text(
            f'{{"wall_time_s": {seconds}, "location": "{root}/dart_hf/data/math/test.jsonl", '
            f'"table": "{tmp_path / name}/t.jsonl", "accuracy": 50.0}}'
        )
        (d / "predictions" / "README.md").write_text(f"# Card\n| wall time | {seconds} s |\n")
    rows = {r.path: r.status for r in co.compare_trees(tmp_path / "old", tmp_path / "new")}
    assert rows == {"eval/predictions/README.md": "identical*", "eval/results.json": "identical*"}
    (tmp_path / "new/eval/results.json").write_text('{"accuracy": 51.0}')
    rows = {r.path: r.status for r in co.compare_trees(tmp_path / "old", tmp_path / "new")}
    assert rows["eval/results.json"] == "different"


def test_renamed_retired_and_introduced_settings_are_not_differences(tmp_path: Path) -> None:
    """A recipe recorded before a setting was renamed (and its retired neighbours at their
    defaults, a new one absent) compares equal to today's record; a changed value does not."""
    old = {"dars": {"hopeless": None, "hopeless_min_samples": 8, "hopeless_alpha": None}}
    new = {"dars": {"no_correct_stop": True, "no_correct_min_samples": 8}}
    for name, body in (("old", old), ("new", new)):
        d = tmp_path / name / "build"
        d.mkdir(parents=True)
        (d / "stats.json").write_text(json.dumps(body))
        (d / "releases" / "r").mkdir(parents=True)
        card = "\n".join(
            f"{k}: {json.dumps(v) if v is not None else 'null'}" for k, v in body["dars"].items()
        )
        (d / "releases" / "r" / "README.md").write_text(card.replace("true", "true") + "\n")
    rows = {r.path: r.status for r in co.compare_trees(tmp_path / "old", tmp_path / "new")}
    assert rows == {"build/stats.json": "identical*", "build/releases/r/README.md": "identical*"}
    new["dars"]["no_correct_stop"] = False  # not the default: a real difference
    (tmp_path / "new" / "build" / "stats.json").write_text(json.dumps(new))
    rows = {r.path: r.status for r in co.compare_trees(tmp_path / "old", tmp_path / "new")}
    assert rows["build/stats.json"] == "different"
