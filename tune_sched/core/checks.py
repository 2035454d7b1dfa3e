"""Small checks for values read from YAML: each raises UsageError naming the key path, the rule and the value."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from tune_sched.core.errors import UsageError, unknown_name

__all__ = ["as_bool", "as_choice", "as_float", "as_int", "as_mapping", "as_str", "check_keys", "join"]


def join(path: str | None, key: object) -> str:
    """``optimizer`` + ``lr`` -> ``optimizer.lr``; list indices as ``betas[0]``."""
    if isinstance(key, int):
        return f"{path or ''}[{key}]"
    return f"{path}.{key}" if path else str(key)


def as_mapping(value: Any, path: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise UsageError(f"must be a mapping of keys to values, but got {_show(value)}", path=path,
                         fix="write 'key: value' lines (or {key: value, ...}) there")
    return value


def check_keys(mapping: Mapping[str, Any], allowed: Iterable[str], path: str | None, *, what: str = "key") -> None:
    """Every key of ``mapping`` must be in ``allowed``; the error suggests the closest valid key."""
    allowed = list(allowed)
    for key in mapping:
        if key not in allowed:
            raise unknown_name(what, key, allowed, path=join(path, key))


def as_int(value: Any, path: str, *, min: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
        isinstance(value, float) and not value.is_integer()
    ):
        raise UsageError(f"must be an integer, but got {_show(value)}", path=path,
                         fix=f"write a whole number, e.g. {_example(min)}")
    value = int(value)
    if min is not None and value < min:
        raise UsageError(f"must be at least {min}, but got {value}", path=path, fix=f"use {min} or more")
    return value


def as_float(value: Any, path: str, *, min: float | None = None, positive: bool = False) -> float:
    if isinstance(value, str):
        try:  # YAML reads 1e-3 (no dot) as a string
            value = float(value)
        except ValueError:
            pass
    try:
        finite = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    except OverflowError:  # an int too large for a float
        finite = False
    if not finite:
        raise UsageError(f"must be a finite number, but got {_show(value)}", path=path,
                         fix="write a number such as 0.5 or 1.0e-3")
    value = float(value)
    if positive and value <= 0:
        raise UsageError(f"must be greater than 0, but got {value}", path=path, fix="use a positive number")
    if min is not None and value < min:
        raise UsageError(f"must be at least {min}, but got {value}", path=path, fix=f"use {min:g} or more")
    return value


def as_bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise UsageError(f"must be true or false, but got {_show(value)}", path=path, fix="write true or false")
    return value


def as_str(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value:
        raise UsageError(f"must be a non-empty string, but got {_show(value)}", path=path,
                         fix="write a non-empty text, in quotes if it looks like a number")
    return value


def as_choice(value: Any, choices: Iterable[str], path: str, *, what: str = "value") -> str:
    choices = list(choices)
    if value not in choices:
        raise unknown_name(what, value, choices, path=path)
    return value


def _example(min: int | None) -> int:
    """A whole number to show in a fix: ``min`` itself when it is positive, else 3."""
    return min if min is not None and min > 0 else 3


def _show(value: Any) -> str:
    text = repr(value)
    return f"{text[:60]}..." if len(text) > 60 else f"{text} ({type(value).__name__})"
