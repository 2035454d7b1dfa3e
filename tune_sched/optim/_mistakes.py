"""Likely mistakes in an LR-scheduler's settings, given where it runs: each family yields warning messages.

OneCycleLR stepped per epoch; one absolute LR (OneCycleLR ``max_lr``, CyclicLR ``base_lr``/``max_lr``) for param
groups with different LRs (their ``lr_factor`` is lost); CosineAnnealingWarmRestarts ``T_0`` longer than the run;
an explicit ``T_max`` shorter than the run (the LR rises again); CyclicLR ``step_size_up`` as long as the run;
StepLR/MultiStepLR that change the LR only after the run. Values the builder filled from the run are never wrong.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["ScheduleContext", "warn_likely_mistakes"]


@dataclass(frozen=True)
class ScheduleContext:
    """Where a scheduler runs: its length in scheduler steps (None: unknown), interval, and the groups' LRs."""

    length: int | None
    interval: Literal["epoch", "step"]
    group_lrs: tuple[float, ...]

    @property
    def known(self) -> bool:
        return self.length is not None and self.length >= 1  # < 1: nothing left after a warmup (warned already)


def _one_lr_for_groups(keys: tuple[str, ...], kwargs: Mapping[str, Any], ctx: ScheduleContext) -> Iterator[str]:
    scalars = [k for k in keys if isinstance(kwargs.get(k), float)]
    if scalars and len(set(ctx.group_lrs)) > 1:
        yield (f"{' and '.join(scalars)} is one number, but the param groups have different LRs "
               f"{sorted(set(ctx.group_lrs))}: their lr_factor is lost; give a list, one per group")


def _one_cycle(kwargs: Mapping[str, Any], ctx: ScheduleContext) -> Iterator[str]:
    if ctx.interval == "epoch":
        yield ("OneCycleLR is stepped once per epoch (interval: epoch); it is meant to move every batch: set "
               "interval: step")
    yield from _one_lr_for_groups(("max_lr",), kwargs, ctx)


def _cyclic(kwargs: Mapping[str, Any], ctx: ScheduleContext) -> Iterator[str]:
    up = kwargs.get("step_size_up", 2000)
    if ctx.known and up >= ctx.length:
        yield f"step_size_up={up} is not shorter than the run ({ctx.length} scheduler steps): the LR only rises"
    yield from _one_lr_for_groups(("base_lr", "max_lr"), kwargs, ctx)


def _warm_restarts(kwargs: Mapping[str, Any], ctx: ScheduleContext) -> Iterator[str]:
    if ctx.known and kwargs["T_0"] > ctx.length:
        yield f"T_0={kwargs['T_0']} is longer than the run ({ctx.length} scheduler steps): it never restarts"


def _cosine(kwargs: Mapping[str, Any], ctx: ScheduleContext) -> Iterator[str]:
    if ctx.known and kwargs["T_max"] < ctx.length:
        yield (f"T_max={kwargs['T_max']} is shorter than the run ({ctx.length} scheduler steps): the LR rises again "
               "after T_max (leave T_max out to fill it from the run)")


def _after_the_run(first_change: float, ctx: ScheduleContext) -> Iterator[str]:
    if ctx.known and first_change >= ctx.length:
        yield f"the LR changes only after the run ({ctx.length} scheduler steps) has ended"


def _step(kwargs: Mapping[str, Any], ctx: ScheduleContext) -> Iterator[str]:
    return _after_the_run(kwargs["step_size"], ctx)


def _multi_step(kwargs: Mapping[str, Any], ctx: ScheduleContext) -> Iterator[str]:
    return _after_the_run(min(kwargs["milestones"], default=math.inf), ctx)


# Likely mistakes, per family: each yields warning messages.
_LIKELY_MISTAKES: dict[str, Callable[[Mapping[str, Any], ScheduleContext], Iterator[str]]] = {
    "OneCycleLR": _one_cycle,
    "CyclicLR": _cyclic,
    "CosineAnnealingWarmRestarts": _warm_restarts,
    "CosineAnnealingLR": _cosine,
    "StepLR": _step,
    "MultiStepLR": _multi_step,
}


def warn_likely_mistakes(name: str, kwargs: Mapping[str, Any], ctx: ScheduleContext, path: str) -> None:
    """``warnings.warn`` (UserWarning, prefixed with ``path``) for each likely mistake in this family's kwargs."""
    for message in _LIKELY_MISTAKES.get(name, _no_mistakes)(kwargs, ctx):
        warnings.warn(f"{path}: {message}", UserWarning, stacklevel=2)


def _no_mistakes(kwargs: Mapping[str, Any], ctx: ScheduleContext) -> Iterator[str]:
    return iter(())
