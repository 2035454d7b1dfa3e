"""Distributions a search space may put where a run config has a value (W&B-sweep style YAML).

- ``{values: [a, b, c]}``: categorical, one of the listed values (any YAML value, lists and mappings included).
- ``{min: a, max: b}``: uniform; integer when both bounds (and the step, if any) are integers, else float.
- ``{min: a, max: b, log: true}``: log-uniform (``min`` must be greater than 0).
- ``{min: a, max: b, step: s}``: the grid ``a, a + s, ..., b`` (``b - a`` must be a multiple of ``s``).
- ``{value: x}``: the constant ``x``, where a mapping would otherwise be read as a distribution.

A mapping is read as a distribution when it has any of the keys in ``DISTRIBUTION_KEYS``; every key it has must
then be one of them. Nothing here imports Optuna: ``suggest`` receives the trial and only calls its methods.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from tune_sched.core.checks import as_bool, as_float, check_keys, join
from tune_sched.core.errors import UsageError

__all__ = [
    "DISTRIBUTION_KEYS",
    "Categorical",
    "Constant",
    "Distribution",
    "Range",
    "is_distribution",
    "parse_distribution",
]

DISTRIBUTION_KEYS = ("values", "min", "max", "log", "step", "value")

_PRIMITIVES = (type(None), bool, int, float, str)
_MAX_INT = 2**53  # integers beyond this are not exact as floats (Optuna stores them as floats)


@dataclass(frozen=True)
class Constant:
    """A fixed value (``{value: x}``, or any plain value in a space)."""

    value: Any


@dataclass(frozen=True)
class Categorical:
    """One of ``values`` (``{values: [...]}``); values are YAML data and are returned as fresh copies."""

    values: tuple[Any, ...]

    kind = "categorical"

    @property
    def size(self) -> int:
        """How many values there are (the grid takes each once)."""
        return len(self.values)

    def point(self, index: int) -> tuple[Any, str]:
        """The ``index``-th value and its key-path suffix in the space (``.values[i]``)."""
        return copy.deepcopy(self.values[index]), f".values[{index}]"

    def suggest(self, trial: Any, name: str) -> Any:
        """Draw a value with ``trial.suggest_categorical``.

        Optuna only stores None, bool, int, float and str choices, and compares them with ``==`` (so ``1``,
        ``1.0`` and ``True`` would collide): other choices are suggested by a JSON label and mapped back.
        """
        labels = self.labels()
        if labels is None:
            return trial.suggest_categorical(name, list(self.values))
        label = trial.suggest_categorical(name, labels)
        return copy.deepcopy(self.values[labels.index(label)])

    def labels(self) -> list[str] | None:
        """JSON labels when the raw values cannot be Optuna choices, else None."""
        raw = all(type(v) in _PRIMITIVES for v in self.values) and not any(
            a == b for i, a in enumerate(self.values) for b in self.values[i + 1:]
        )
        return None if raw else [_label(v) for v in self.values]

    def describe(self) -> str:
        return "{" + ", ".join(_short(v) for v in self.values) + "}"


@dataclass(frozen=True)
class Range:
    """A uniform, log-uniform or stepped range of ints or floats (``{min, max[, log][, step]}``)."""

    low: int | float
    high: int | float
    log: bool = False
    step: int | float | None = None
    integer: bool = False

    @property
    def kind(self) -> str:
        return "int" if self.integer else "float"

    @property
    def size(self) -> int | None:
        """How many points the grid has (ints or stepped floats), or None for a continuous range."""
        if self.integer:
            return (int(self.high) - int(self.low)) // int(self.step or 1) + 1
        if self.step is None:
            return None
        return int((_dec(self.high) - _dec(self.low)) / _dec(self.step)) + 1

    def point(self, index: int) -> tuple[Any, str]:
        """The ``index``-th grid point (``0 <= index < size``) and its key-path suffix in the space.

        Ints, or floats on the exact decimal grid (``0.1 + 2 * 0.1`` is ``0.3``). Index 0 is ``min`` and the last
        is ``max`` (suffixes ``.min`` and ``.max``); a continuous range has only those two.
        """
        last = (self.size or 2) - 1
        if index <= 0:
            return self.low, ".min"
        if index >= last:
            return self.high, ".max"
        if self.integer:
            return int(self.low) + index * int(self.step or 1), ""
        return float(_dec(self.low) + index * _dec(self.step)), ""

    def suggest(self, trial: Any, name: str) -> int | float:
        """Draw a value with ``trial.suggest_int`` or ``trial.suggest_float``."""
        if self.integer:
            return trial.suggest_int(name, int(self.low), int(self.high), step=int(self.step or 1), log=self.log)
        return trial.suggest_float(name, float(self.low), float(self.high), step=self.step, log=self.log)

    def describe(self) -> str:
        text = f"[{_short(self.low)}, {_short(self.high)}]"
        if self.log:
            text += " log"
        if self.step is not None:
            text += f" step {_short(self.step)}"
        return text


Distribution = Categorical | Range


def is_distribution(value: Any) -> bool:
    """Whether ``value`` is a mapping that a space reads as a distribution (it has a distribution key)."""
    return isinstance(value, Mapping) and any(key in value for key in DISTRIBUTION_KEYS)


def parse_distribution(data: Mapping[str, Any], path: str) -> Constant | Categorical | Range:
    """Validate a distribution mapping (see the module docstring) into a Constant, Categorical or Range.

    Errors (UsageError naming ``path``): an unknown key (with the closest valid one), ``value`` or ``values``
    combined with other keys, an empty or non-list ``values``, a NaN or duplicate value, a range without both
    bounds, a non-finite bound, ``min > max``, ``log`` with ``min <= 0`` or with ``step``, ``step <= 0``, and
    ``max - min`` not a multiple of ``step``.
    """
    check_keys(data, DISTRIBUTION_KEYS, path, what="distribution key")
    for only in ("value", "values"):
        others = [k for k in data if k != only]
        if only in data and others:
            raise UsageError(
                f"'{only}' cannot be combined with '{others[0]}'", path=path,
                fix=f"write either {{{only}: ...}} or {{min: ..., max: ...}}",
            )
    if "value" in data:
        return Constant(copy.deepcopy(data["value"]))
    if "values" in data:
        return _categorical(data["values"], join(path, "values"))
    return _range(data, path)


def _categorical(values: Any, path: str) -> Categorical:
    if not isinstance(values, list) or not values:
        raise UsageError(
            f"must be a non-empty list, but got {values!r}"[:120], path=path, fix="list the choices, e.g. [0.1, 0.5]"
        )
    seen: dict[str, int] = {}
    for i, value in enumerate(values):
        if isinstance(value, float) and math.isnan(value):
            raise UsageError("must not be NaN", path=f"{path}[{i}]", fix="remove it from the list")
        label = _label(value)
        if label in seen:
            raise UsageError(
                f"repeats {_short(value)} (also at [{seen[label]}])", path=f"{path}[{i}]", fix="list each value once"
            )
        seen[label] = i
    return Categorical(tuple(copy.deepcopy(values)))


def _range(data: Mapping[str, Any], path: str) -> Range:
    missing = [k for k in ("min", "max") if k not in data]
    if missing:
        raise UsageError(
            f"a range needs both 'min' and 'max', but '{missing[0]}' is missing", path=path,
            fix="write {min: 0.1, max: 0.9} (or {values: [...]} for a list of choices)",
        )
    low, high, step = data["min"], data["max"], data.get("step")
    integer = all(type(v) is int for v in (low, high)) and (step is None or type(step) is int)
    low_f, high_f = _bound(low, join(path, "min")), _bound(high, join(path, "max"))
    log = as_bool(data["log"], join(path, "log")) if "log" in data else False
    if low_f > high_f:
        raise UsageError(f"min ({_short(low)}) is greater than max ({_short(high)})", path=path, fix="swap them")
    if log and low_f <= 0:
        raise UsageError(
            f"a log range needs min > 0, but got min {_short(low)}", path=join(path, "min"),
            fix="use a positive min such as 1e-6, or drop 'log: true'",
        )
    if step is not None:
        step = _step(step, low_f, high_f, integer, path)
        if log:
            raise UsageError("'log' and 'step' cannot be combined", path=path, fix="drop one of them")
    if integer:
        return Range(int(low), int(high), log=log, step=step, integer=True)
    return Range(low_f, high_f, log=log, step=step, integer=False)


def _step(step: Any, low: float, high: float, integer: bool, path: str) -> int | float:
    """A positive step that divides ``max - min`` exactly (in the decimals the user wrote)."""
    step_f = _bound(step, join(path, "step"))
    if step_f <= 0:
        raise UsageError(f"must be greater than 0, but got {_short(step)}", path=join(path, "step"),
                         fix="use a positive step, or drop 'step'")
    span, size = _dec(high) - _dec(low), _dec(step_f)
    try:
        remainder = span % size
    except InvalidOperation:  # more steps than a decimal holds digits
        raise UsageError(
            f"step ({_short(step)}) is too small for the range", path=join(path, "step"), fix="use a larger step"
        ) from None
    if remainder != 0:
        number = int if integer else float
        fitted = _dec(low) + (span // size) * size
        raise UsageError(
            f"max - min ({_short(number(span))}) is not a multiple of step ({_short(step)})", path=path,
            fix=f"set max to {_short(number(fitted))} or change the step",
        )
    return int(step) if integer else step_f


def _bound(value: Any, path: str) -> float:
    if type(value) is int and abs(value) > _MAX_INT:
        raise UsageError(f"must be at most {_MAX_INT} in size, but got {value}", path=path, fix="use a smaller number")
    return as_float(value, path)


def _dec(value: float) -> Decimal:
    """The decimal the user wrote (``0.1`` -> ``Decimal('0.1')``), so stepped grids have no rounding noise."""
    return Decimal(repr(value))


def _label(value: Any) -> str:
    """A canonical text for a YAML value (types kept apart: ``1``, ``1.0`` and ``true`` differ)."""
    try:
        return json.dumps(value, sort_keys=True, default=repr)
    except (TypeError, ValueError):  # keys of mixed types cannot be sorted; a structure that contains itself
        return repr(value)


def _short(value: Any) -> str:
    """Compact text for messages; a whole float keeps its ``.0`` so it reads apart from an int."""
    if isinstance(value, float):
        text = f"{value:g}"
        return text + ".0" if text.lstrip("-").isdigit() else text
    text = value if isinstance(value, str) else _label(value)
    return text if len(text) <= 40 else text[:37] + "..."
