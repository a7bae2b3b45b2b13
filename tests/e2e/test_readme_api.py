"""The README's "Python API" block, run as written: the text is read from README.md, so the test
fails when the README's API goes stale.

Where the block needs inputs it does not give, they are small and real: `../shared/data` (from
the working directory) holds a copy of the bundled GSM8K slice, `responses_ds` is a three-row
dataset of responses and golds, and `build.run_build` fills the settings the block leaves at
their (paper-sized) defaults with a scripted engine on a few bundled queries; the block's own
settings win.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from datasets import Dataset, load_dataset
from helpers import REPO

README = REPO / "README.md"
SMALL = {
    "engine": "scripted",
    "template": "deepseekmath",
    "limit": 4,
    "k_p": 4,
    "max_trials": 12,
    "difficulty_samples": 4,
    "round_cap": 4,
    "shard_size": 4,
    "num_proc": 1,
}
"""What the block leaves to defaults, made small (a scripted build of 4 bundled queries)."""


def readme_api_block() -> str:
    text = README.read_text(encoding="utf-8")
    found = re.search(r"^## Python API\n+```python\n(.*?)^```", text, re.S | re.M)
    assert found, "README.md has no ```python block under ## Python API"
    return found.group(1)


def test_readme_python_api_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dart_hf.build import run as build

    block = readme_api_block()
    assert "responses_ds" in block and "run_build" in block  # what the inputs below serve
    data = tmp_path / "shared" / "data" / "gsm8k"
    data.mkdir(parents=True)
    shutil.copy(REPO / "dart_hf" / "data" / "gsm8k" / "train.jsonl", data / "train.jsonl")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # the block's relative paths: ../shared/data and runs/b
    monkeypatch.delenv("DART_HF_DATA_DIR", raising=False)
    responses_ds = Dataset.from_dict(
        {
            "response": ["So $\\boxed{\\frac12}$.", "It is $\\boxed{7}$.", "no idea"],
            "answer": ["0.5", "8", "3"],
        }
    )
    real_run_build, calls = build.run_build, []

    def run_build(settings: dict, out: str | Path, **kwargs: object) -> build.BuildResult:
        calls.append(settings)
        return real_run_build({**SMALL, **settings}, out, **kwargs)

    monkeypatch.setattr(build, "run_build", run_build)
    namespace: dict[str, object] = {"responses_ds": responses_ds}
    exec(compile(block, f"{README}:Python API", "exec"), namespace)

    pool = namespace["pool"]
    assert isinstance(pool, Dataset) and len(pool) == len(
        (data / "train.jsonl").read_text(encoding="utf-8").splitlines()
    )
    assert {"id", "source", "query", "answer"} <= set(pool.column_names)
    graded = namespace["graded"]
    assert isinstance(graded, Dataset)
    assert {"pred", "correct", "grade_status"} <= set(graded.column_names)
    assert graded["correct"] == [True, False, False]
    assert graded["grade_status"] == ["ok", "ok", "no_answer"]
    result = namespace["result"]
    assert isinstance(result, build.BuildResult) and len(calls) == 1
    assert Path(result.out).resolve() == work / "runs" / "b"
    recipe = (work / "runs" / "b" / "recipe.yaml").read_text(encoding="utf-8")
    for key, value in calls[0].items():  # the block's settings reached the build
        assert re.search(rf"^{key}:", recipe, re.M), key
        assert str(value[0] if isinstance(value, list) else value) in recipe, (key, value)
    for name in ("uniform", "prop2diff"):
        assert (result.releases[name] / "README.md").is_file()
    hard = load_dataset(str(result.releases["prop2diff"]), split="train")
    assert hard.column_names[:2] == ["query", "response"]
