"""The loss registry: name -> spec, so a config names its losses; importable without torch.

``tune-sched validate`` checks loss names from here without paying for ``import torch``; ``get_loss`` imports the
implementing module only when a loss is actually used.

Example:
    >>> from tune_sched.losses.registry import LOSS_NAMES, get_loss
    >>> LOSS_NAMES
    ('field', 'spectrum', 'mse', 'mae', 'huber')
    >>> get_loss("field").__name__
    'field_error'
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tune_sched.core.errors import unknown_name

__all__ = ["LOSSES", "LOSS_NAMES", "LossSpec", "get_loss"]


@dataclass(frozen=True)
class LossSpec:
    """One registered loss: ``target`` is ``"module:function"``; the function is ``f(pred, true) -> 0-d Tensor``."""

    name: str
    target: str
    description: str


LOSSES: dict[str, LossSpec] = {
    spec.name: spec
    for spec in (
        LossSpec(
            "field",
            "tune_sched.losses.field:field_error",
            "relative squared error per frame (batch item, time step, channel), averaged over frames",
        ),
        LossSpec(
            "spectrum",
            "tune_sched.losses.spectrum:spectrum_error",
            "relative squared error of the log radial power spectrum (channels averaged)",
        ),
        LossSpec("mse", "tune_sched.losses.pointwise:mse", "mean squared error over all elements"),
        LossSpec("mae", "tune_sched.losses.pointwise:mae", "mean absolute error over all elements"),
        LossSpec("huber", "tune_sched.losses.pointwise:huber", "mean Huber loss over all elements (delta 1)"),
    )
}

LOSS_NAMES: tuple[str, ...] = tuple(LOSSES)


def get_loss(name: str, *, path: str | None = None) -> Callable[..., Any]:
    """The loss function registered as ``name`` (imports its module, and so torch, on first use).

    Raises:
        UsageError: ``name`` is not registered; the message suggests the closest name and lists the valid ones,
            prefixed with ``path`` (the config key that named it) when given.
    """
    spec = LOSSES.get(name) if isinstance(name, str) else None
    if spec is None:
        raise unknown_name("loss", name, LOSS_NAMES, path=path)
    module, _, function = spec.target.partition(":")
    return getattr(importlib.import_module(module), function)
