"""The `dart-hf` command line: a thin click layer over the Python API.

Each command's docstring is its `--help`. User errors (`DartError`) become
`click.ClickException`, never a traceback.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click

from dart_hf import __version__
from dart_hf.errors import DartError


def user_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn DartError (and missing files) into a clean click error."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except DartError as exc:
            raise click.ClickException(str(exc)) from None
        except FileNotFoundError as exc:
            raise click.ClickException(f"file not found: {exc.filename or exc}") from None

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dart-hf")
def cli() -> None:
    """dart-hf: build DART-Math datasets and evaluate math models with Hugging Face datasets."""


# Commands are defined below, one section per area (grading, sampling, build, release, eval).


def main() -> None:
    """Console-script entry point."""
    cli()
