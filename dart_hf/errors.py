"""User-facing errors.

Everything that is the user's fault (bad file, bad flag value, unknown name) raises
`DartError`; the CLI turns it into a clean `click.ClickException` message, never a traceback.
"""

from __future__ import annotations

from collections.abc import Iterable


class DartError(Exception):
    """An error caused by input or configuration, with a message meant for the user."""


def unknown_name(kind: str, name: str, valid: Iterable[str]) -> DartError:
    """Build the error for an unknown registry key, listing the valid ones.

    Args:
        kind: What was looked up ("template", "engine", "benchmark", ...).
        name: The name that was asked for.
        valid: The names that exist.
    """
    return DartError(f"unknown {kind} {name!r}; valid: {', '.join(sorted(valid))}")


def missing_package(package: str, pip_line: str, purpose: str) -> DartError:
    """Build the error for an optional dependency that is not installed."""
    return DartError(f"{purpose} needs the package {package!r}: {pip_line}")
