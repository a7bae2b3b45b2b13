"""errors.py: the user-facing error and the two messages every registry and extra share."""

from __future__ import annotations

import pytest

from dart_hf.errors import DartError, missing_package, unknown_name


def test_unknown_name_lists_the_valid_names_sorted() -> None:
    err = unknown_name("template", "chatml", ["qa", "alpaca", "deepseekmath"])
    assert isinstance(err, DartError)
    assert str(err) == "unknown template 'chatml'; valid: alpaca, deepseekmath, qa"


def test_unknown_name_takes_any_iterable_of_names() -> None:
    assert str(unknown_name("engine", "x", {"vllm": 1}.keys())) == "unknown engine 'x'; valid: vllm"


def test_missing_package_names_the_pip_line() -> None:
    err = missing_package("vllm", "pip install 'dart-hf[vllm]'", "the vllm engine")
    assert str(err) == "the vllm engine needs the package 'vllm': pip install 'dart-hf[vllm]'"


def test_dart_error_is_an_exception_with_its_message() -> None:
    with pytest.raises(DartError, match="^bad flag$"):
        raise DartError("bad flag")
    assert not issubclass(DartError, (ValueError, KeyError))  # the CLI catches it alone
