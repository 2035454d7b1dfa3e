"""The words every layer uses: a metric's mode and what "better" means in it, a finished seed's status and which
statuses count as diverged, and a config as flat key paths.

Each is defined here once; the trial, the search, the ranking and the report all use these.

    >>> better(0.1, 0.2, "min"), better(0.1, 0.2, "max")
    (True, False)
    >>> best([(0, 0.3), (1, 0.1)], "min", key=lambda row: row[1])
    (1, 0.1)
    >>> oriented(2.0, "max")
    -2.0
    >>> flatten({"optimizer": {"name": "Adam", "betas": [0.9, 0.99]}, "seed": 3, "module_kwargs": {}})
    {'optimizer.name': 'Adam', 'optimizer.betas': [0.9, 0.99], 'seed': 3}
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, TypeVar, get_args

__all__ = ["BETTER", "COUNTS_AS_DIVERGED", "MODES", "STATUSES", "Mode", "Status", "best", "better", "flatten",
           "oriented"]

T = TypeVar("T")

Mode = Literal["min", "max"]
"""Whether lower (``min``) or higher (``max``) values of the metric are better."""
MODES: tuple[str, ...] = get_args(Mode)
BETTER = {"min": "lower", "max": "higher"}
"""The word for a better value in each mode, for messages ("lower is better")."""


def better(a: float, b: float, mode: str) -> bool:
    """Whether ``a`` is strictly better than ``b`` in ``mode`` (False when either is NaN)."""
    return a < b if mode == "min" else a > b


def best(values: Iterable[T], mode: str, *, key: Callable[[T], Any] | None = None) -> T:
    """The best of ``values`` in ``mode`` (the first of equals); ``ValueError`` when there are none."""
    pick = min if mode == "min" else max
    return pick(values, key=key) if key is not None else pick(values)  # type: ignore[type-var]


def oriented(x: Any, mode: str) -> Any:
    """``x`` turned so that lower is better: itself for ``min``, negated for ``max`` (numbers, arrays, Series)."""
    return x if mode == "min" else -x


Status = Literal["completed", "pruned", "failed", "diverged"]
"""How a seed's training ended: ``completed`` (its last epoch, or early stopping), ``pruned`` (stopped by the
search's pruner), ``failed`` (an error) or ``diverged`` (the divergence rule, or a non-finite loss)."""
STATUSES: tuple[str, ...] = get_args(Status)
COUNTS_AS_DIVERGED: tuple[str, ...] = ("diverged", "failed")
"""The statuses that count as a diverged seed: worst for the searcher and in the ranking."""


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings as one level of dotted key paths (``{"optimizer": {"lr": 0.1}}`` -> ``{"optimizer.lr": 0.1}``).

    Lists and every other value are leaves, kept as they are; an empty mapping adds no key.
    """
    if isinstance(data, Mapping):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: data}
