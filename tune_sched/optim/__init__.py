"""Config -> torch objects: optimizers, LR schedulers, and a LightningModule's ``configure_optimizers``.

Importing this package does not import torch: the catalog (names, kwargs, config checks) is torch-free, and the
builders load on first access.

Example:
    >>> from tune_sched.optim import build_lr_scheduler, build_optimizer  # doctest: +SKIP
    >>> opt = build_optimizer(model, {"name": "AdamW", "lr": 1e-3, "betas": [0.95, 0.999]})  # doctest: +SKIP
    >>> lr = build_lr_scheduler(opt, {"name": "CosineAnnealingLR"}, max_epochs=10)  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

from tune_sched.config.catalog.checks import (
    LR_SCHEDULERS,
    OPTIMIZERS,
    LRSchedulerSpec,
    OptimizerSpec,
    list_lr_schedulers,
    list_optimizers,
    validate_lr_scheduler_config,
    validate_optimizer_config,
)

# name -> module that defines it; these import torch, so they load on first access.
_LAZY = {
    "build_optimizer": "tune_sched.optim.optimizers",
    "build_lr_scheduler": "tune_sched.optim.lr_schedulers",
    "configure_optimizers": "tune_sched.optim.lightning",
    "expected_lr_change": "tune_sched.optim.liveness",
    "WarmupLR": "tune_sched.optim.warmup",
}

__all__ = sorted([
    "LR_SCHEDULERS",
    "OPTIMIZERS",
    "LRSchedulerSpec",
    "OptimizerSpec",
    "list_lr_schedulers",
    "list_optimizers",
    "validate_lr_scheduler_config",
    "validate_optimizer_config",
    *_LAZY,
])


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tune_sched.optim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
