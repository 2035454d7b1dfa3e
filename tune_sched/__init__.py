"""tune-sched: find optimizer and LR-schedule settings for Lightning models that are good *and* stable across seeds.

Names are imported lazily, so ``import tune_sched`` (and ``tune-sched --help``) does not pay for torch or Ray.
"""

from __future__ import annotations

import importlib
import types
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "build_optimizer": "tune_sched.optim.optimizers",
    "build_lr_scheduler": "tune_sched.optim.lr_schedulers",
    "configure_optimizers": "tune_sched.optim.lightning",
    "list_optimizers": "tune_sched.config.catalog.registry",
    "list_lr_schedulers": "tune_sched.config.catalog.registry",
    "expected_lr_change": "tune_sched.optim.liveness",
    "LossScheduler": "tune_sched.losses.scheduler",
    "field_error": "tune_sched.losses",
    "spectrum_error": "tune_sched.losses",
    "is_search_space": "tune_sched.config.space",
    "RunConfig": "tune_sched.config.run_config",
    "load_run_config": "tune_sched.config.run_config",
    "load_search_space": "tune_sched.config.space",
    "SearchSpace": "tune_sched.config.space",
    "run_trial": "tune_sched.train.trial",
    "run_seeds": "tune_sched.train.lockstep",
    "TrialResult": "tune_sched.train.trial",
    "UsageError": "tune_sched.core.errors",
    "analyze": "tune_sched.api",
    "Analysis": "tune_sched.api",
    "Experiment": "tune_sched.api",
    "SearchInterrupted": "tune_sched.api",
}

__all__ = sorted(_EXPORTS) + ["__version__", "losses", "analysis", "rerun", "search"]


def __getattr__(name: str) -> Any:
    if name in ("losses", "analysis", "rerun", "search"):  # search: the package, callable as tune_sched.api.search
        return importlib.import_module(f"tune_sched.{name}")
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tune_sched' has no attribute {name!r}")


class _SearchPackage(types.ModuleType):
    """The module type of the ``tune_sched.search`` package: calling the package is :func:`tune_sched.api.search`.

    It lives here, above every layer, so that the search package need not import the API built on top of it.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from tune_sched.api import search  # lazy: entry

        return search(*args, **kwargs)


def __dir__() -> list[str]:
    return __all__
