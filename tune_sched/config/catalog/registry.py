"""The optimizer and LR-scheduler registries: name -> a small frozen spec of the kwargs a config may give.

The torch entries are the installed torch's signatures (:mod:`tune_sched.config.catalog._installed_torch`: the committed
snapshot when it is that torch, else read once per torch release and cached), so nothing here imports torch. Our own
schedule families are declared below in the same form. Schedulers that need a Python callable (LambdaLR,
MultiplicativeLR) are refused by name, with the reason.

Example:
    >>> list_lr_schedulers("cosine*")
    ['CosineAnnealingLR', 'CosineAnnealingWarmRestarts']
    >>> get_optimizer_spec("adamw").kwargs["betas"].default
    [0.9, 0.999]
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from tune_sched.config.catalog._installed_torch import torch_signatures
from tune_sched.core.errors import UsageError, unknown_name

__all__ = [
    "LR_SCHEDULERS",
    "OPTIMIZERS",
    "KwargSpec",
    "LRSchedulerSpec",
    "OptimizerSpec",
    "get_lr_scheduler_spec",
    "get_optimizer_spec",
    "list_lr_schedulers",
    "list_optimizers",
]

Interval = Literal["epoch", "step"]
_REQUIRED = object()


@dataclass(frozen=True)
class KwargSpec:
    """One constructor argument: its name, type (see :mod:`tune_sched.config.catalog._types`) and default."""

    name: str
    type: Any
    default: Any = _REQUIRED

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED


@dataclass(frozen=True)
class OptimizerSpec:
    """An optimizer a config may name: ``torch.optim.<name>`` and the kwargs it takes."""

    name: str
    kwargs: Mapping[str, KwargSpec]
    source: str = "torch.optim"

    @property
    def supports_weight_decay(self) -> bool:
        return "weight_decay" in self.kwargs


@dataclass(frozen=True)
class LRSchedulerSpec:
    """An LR-scheduler family a config may name.

    Attributes:
        interval: the default ``interval`` (``step`` for schedules meant to move every batch).
        length: the kwarg filled from the trainer when left out (``T_max`` ...), counted in scheduler steps.
        source: ``torch.optim.lr_scheduler`` or ``tune_sched`` (our own families, built from pure functions).
    """

    name: str
    kwargs: Mapping[str, KwargSpec]
    source: str = "torch.optim.lr_scheduler"
    interval: Interval = "epoch"
    length: str | None = None

    @property
    def needs_monitor(self) -> bool:
        return self.name == "ReduceLROnPlateau"

    @property
    def composite(self) -> bool:
        """Whether it holds other schedulers (SequentialLR, ChainedScheduler)."""
        return any(k.type == "schedulers" for k in self.kwargs.values())


# Schedules that should move every batch.
_STEP_INTERVAL = {"OneCycleLR", "CyclicLR", "LinearDecayLR"}
# The kwarg that is the schedule's length, filled from the trainer when left out (overrides torch's default).
_LENGTHS = {
    "CosineAnnealingLR": "T_max",
    "OneCycleLR": "total_steps",
    "PolynomialLR": "total_iters",
    "LinearWarmupCosineAnnealingLR": "max_epochs",
    "LinearDecayLR": "T",
}
# Our own families (built in tune_sched.optim.lr_schedulers from tune_sched.optim.schedules).
_OWN_SCHEDULERS = {
    "LinearWarmupCosineAnnealingLR": (
        KwargSpec("warmup_epochs", "int"),
        KwargSpec("max_epochs", "int"),
        KwargSpec("warmup_start_lr", "float", 0.0),
        KwargSpec("eta_min", "float", 0.0),
    ),
    "LinearDecayLR": (KwargSpec("T", "int"), KwargSpec("final_fraction", "float", 0.0)),
}


def _kwargs_of(entry: Mapping[str, Any]) -> MappingProxyType:
    return MappingProxyType({
        name: KwargSpec(name, k["type"], k.get("default", _REQUIRED)) for name, k in entry["kwargs"].items()
    })


def _excluded_reason(name: str, kwargs: Mapping[str, KwargSpec]) -> str | None:
    needs = [k.name for k in kwargs.values() if k.required and k.type == "callable"]
    if needs:
        return (f"{name} needs a Python callable ({', '.join(needs)}), which a config file cannot hold; use a "
                "schedule family instead (e.g. LinearDecayLR, LinearWarmupCosineAnnealingLR, or a 'warmup:' block)")
    return None


def _load() -> tuple[dict[str, OptimizerSpec], dict[str, LRSchedulerSpec], dict[str, str]]:
    signatures = torch_signatures()
    optimizers = {name: OptimizerSpec(name, _kwargs_of(e)) for name, e in signatures["optimizers"].items()}
    schedulers: dict[str, LRSchedulerSpec] = {}
    excluded: dict[str, str] = {}
    entries = {name: _kwargs_of(e) for name, e in signatures["lr_schedulers"].items()}
    for name, kwargs in entries.items():
        if (reason := _excluded_reason(name, kwargs)) is not None:
            excluded[name] = reason
        else:
            schedulers[name] = LRSchedulerSpec(
                name, kwargs, interval="step" if name in _STEP_INTERVAL else "epoch", length=_LENGTHS.get(name)
            )
    for name, kwargs in _OWN_SCHEDULERS.items():
        schedulers[name] = LRSchedulerSpec(
            name, MappingProxyType({k.name: k for k in kwargs}), source="tune_sched",
            interval="step" if name in _STEP_INTERVAL else "epoch", length=_LENGTHS.get(name),
        )
    return optimizers, schedulers, excluded


OPTIMIZERS, LR_SCHEDULERS, _EXCLUDED = _load()


def list_optimizers(pattern: str = "*") -> list[str]:
    """Names of the optimizers a config may use that match a glob ``pattern`` (case-insensitive), sorted."""
    return _matching(OPTIMIZERS, pattern)


def list_lr_schedulers(pattern: str = "*") -> list[str]:
    """Names of the LR schedulers a config may use that match a glob ``pattern`` (case-insensitive), sorted.

    ``LambdaLR`` and ``MultiplicativeLR`` are not among them: they need Python callables.
    """
    return _matching(LR_SCHEDULERS, pattern)


def _matching(registry: Mapping[str, Any], pattern: str) -> list[str]:
    return sorted((n for n in registry if fnmatch.fnmatchcase(n.lower(), pattern.lower())), key=str.lower)


def get_optimizer_spec(name: Any, *, path: str | None = "optimizer.name") -> OptimizerSpec:
    """The registry entry for ``name`` (case-insensitive); an unknown name lists the valid ones."""
    found = _lookup(OPTIMIZERS, name)
    if found is None:
        raise unknown_name("optimizer", name, OPTIMIZERS, path=path)
    return found


def get_lr_scheduler_spec(name: Any, *, path: str | None = "lr_scheduler.name") -> LRSchedulerSpec:
    """The registry entry for ``name`` (case-insensitive); LambdaLR/MultiplicativeLR are refused with the reason."""
    found = _lookup(LR_SCHEDULERS, name)
    if found is not None:
        return found
    for excluded, reason in _EXCLUDED.items():
        if str(name).lower() == excluded.lower():
            message, _, fix = reason.partition("; ")
            raise UsageError(f"{excluded} is not supported: {message}", path=path, fix=fix or "use another scheduler")
    raise unknown_name("LR scheduler", name, LR_SCHEDULERS, path=path)


def _lookup(registry: Mapping[str, Any], name: Any) -> Any:
    if not isinstance(name, str):
        return None
    lowered = {n.lower(): spec for n, spec in registry.items()}
    return lowered.get(name.lower())
