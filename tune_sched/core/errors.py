"""The one user-error type: wrong input names where it is wrong and how to fix it (CLI exit code 2)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["SearchFailed", "UsageError", "did_you_mean", "unknown_name"]


class UsageError(ValueError):
    """The user's input is wrong.

    ``str(err)`` is one line: ``<key path>: <what is wrong>; <the fix>``. The CLI prints it and exits with 2.
    """

    def __init__(self, message: str, *, path: str | None = None, fix: str | None = None) -> None:
        self.message = message
        self.path = path
        self.fix = fix
        super().__init__(str(self))

    def __str__(self) -> str:
        text = f"{self.path}: {self.message}" if self.path else self.message
        if self.fix:
            text += f"; {self.fix}"
        return " ".join(text.split())  # always one line

    def at(self, prefix: str) -> UsageError:
        """The same error with ``prefix`` prepended to its key path (for nested validation)."""
        path = f"{prefix}.{self.path}" if self.path else prefix
        return UsageError(self.message, path=path, fix=self.fix)


class SearchFailed(Exception):
    """A search ended without a result worth ranking (every config failed, or the first ones all failed the same
    way). ``str(err)`` is one line; ``exit_code`` is 2 when the user's input is to blame, else 1."""

    def __init__(self, message: str, *, exit_code: int = 1) -> None:
        super().__init__(" ".join(message.split()))
        self.exit_code = exit_code


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, case-insensitively, or ``""``."""
    choices = list(choices)
    lowered = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(str(name).lower(), list(lowered), n=1, cutoff=0.6)
    return f" (did you mean '{lowered[close[0]]}'?)" if close else ""


def unknown_name(kind: str, name: object, choices: Iterable[str], *, path: str | None = None) -> UsageError:
    """An error for an unknown registry name or key that suggests the closest and lists the valid ones."""
    choices = sorted(choices, key=str.lower)
    return UsageError(
        f"unknown {kind} {name!r}{did_you_mean(str(name), choices)}",
        path=path,
        fix=f"use one of: {', '.join(choices)}",
    )
