"""Executor settings and flags, without Ray (the Ray runs: tests/integration/test_executors.py)."""

from __future__ import annotations

import pytest

from dart_hf.errors import DartError
from dart_hf.executors import ExecutorSpec


def test_bad_executor_settings() -> None:
    with pytest.raises(DartError, match="data_parallel"):
        ExecutorSpec(kind="ray", data_parallel=0)
    with pytest.raises(DartError, match="unknown executor"):
        ExecutorSpec(kind="slurm")


def test_eval_executor_flags() -> None:
    from click.testing import CliRunner

    from dart_hf.cli import cli

    result = CliRunner().invoke(cli, ["eval", "--data-parallel", "0", "-o", "x"])
    assert result.exit_code != 0 and "--data-parallel and --tensor-parallel-size must be >= 1" in (
        result.output
    )
    from dart_hf.executors import from_flags

    assert from_flags(None, None, None) == (None, {})
    spec, options = from_flags("local", 2, 2)
    assert spec is not None and spec.kind == "ray" and spec.address is None
    assert spec.data_parallel == 2 and options == {"tensor_parallel_size": 2}
    assert from_flags("10.0.0.1:6379", None, None)[0].address == "10.0.0.1:6379"  # type: ignore[union-attr]


@pytest.mark.parametrize("engine", ["scripted", "transformers"])
def test_tensor_parallel_size_is_refused_for_an_engine_without_it(engine: str) -> None:
    """Issue 27 (phase 1 note): the flag reached the engine as an unknown engine option, and
    the refusal named `--engine-option`, which the user never gave."""
    from dart_hf.engines import check_options

    with pytest.raises(DartError) as err:
        check_options(engine, {"tensor_parallel_size": 2})
    assert str(err.value).startswith("--tensor-parallel-size (tensor_parallel_size) splits")
    assert f"the {engine} engine has no such setting" in str(err.value)
    assert "--engine-option" not in str(err.value)
