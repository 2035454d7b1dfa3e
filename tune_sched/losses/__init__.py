"""Losses for fields (field error, spectrum error, MSE/MAE/Huber), their registry, and the loss scheduler.

Importing this package does not import torch: the torch-backed loss functions load on first access.

Example:
    >>> from tune_sched.losses import LossScheduler, combine, field_error, spectrum_error  # doctest: +SKIP
    >>> sched = LossScheduler.from_config({"source": "field", "target": "spectrum"})  # doctest: +SKIP
    >>> loss = combine({"field": field_error(y, t), "spectrum": spectrum_error(y, t)}, sched.weights)  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

from tune_sched.losses.weighted import combine
from tune_sched.losses.registry import LOSS_NAMES, LOSSES, LossSpec, get_loss
from tune_sched.losses.scheduler import LossScheduler, LossSchedulerConfig, validate_loss_scheduler_config

__all__ = [
    "LOSSES",
    "LOSS_NAMES",
    "LossScheduler",
    "LossSchedulerConfig",
    "LossSpec",
    "combine",
    "field_error",
    "get_loss",
    "huber",
    "mae",
    "mse",
    "shell_spectrum",
    "spectrum_error",
    "validate_loss_scheduler_config",
]

# name -> module that defines it; these import torch, so they load on first access.
_LAZY = {
    "field_error": "tune_sched.losses.field",
    "spectrum_error": "tune_sched.losses.spectrum",
    "shell_spectrum": "tune_sched.losses.spectrum",
    "mse": "tune_sched.losses.pointwise",
    "mae": "tune_sched.losses.pointwise",
    "huber": "tune_sched.losses.pointwise",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
