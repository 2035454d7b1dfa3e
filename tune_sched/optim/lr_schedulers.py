"""build_lr_scheduler: an LR-scheduler block -> Lightning's lr_scheduler dict around a torch scheduler.

Lengths. A schedule's length kwarg (``CosineAnnealingLR.T_max``, ``OneCycleLR.total_steps``, ``PolynomialLR
.total_iters``, ``LinearWarmupCosineAnnealingLR.max_epochs``, ``LinearDecayLR.T``) left out of the config is the
number of scheduler steps Lightning will take (:mod:`tune_sched.optim.stepping`): ``max_epochs // frequency`` for
``interval: epoch``, ``total_steps // frequency`` for ``interval: step``. Inside SequentialLR each child gets the
span up to the next milestone (the last one: the rest of the run); inside ChainedScheduler all get the whole run;
after a warmup the wrapped schedule gets the run minus the warmup. A needed length that cannot be known is an
error naming the key.

Warmup. ``warmup: {epochs: N, start_factor: f}`` or ``{steps: N, start_factor: f}`` puts a
:class:`~tune_sched.optim.warmup.WarmupLR` in front (top level only; needs ``frequency: 1``). The returned
``interval`` is then decided by the units:

====================  ===================  ========  ==========================================================
warmup                schedule interval    interval  behaviour
====================  ===================  ========  ==========================================================
``epochs: N``         epoch                epoch     N warmup epochs, then the schedule, one step per epoch
``steps: N``          step                 step      N warmup steps, then the schedule, one step per step
``steps: N``          epoch                step      N warmup steps, then the schedule stepped once every
                                                     ``steps_per_epoch`` steps (its "epochs" start at step N)
``epochs: N``         step                 step      ``N * steps_per_epoch`` warmup steps, then the schedule
====================  ===================  ========  ==========================================================

The mixed rows need ``steps_per_epoch`` (or ``max_epochs`` and ``total_steps``); without it they are an error.

Likely mistakes are ``UserWarning``s (see :mod:`tune_sched.optim._mistakes`; also a warmup as long as the run);
an explicit OneCycleLR length shorter than the run is an error (torch would raise mid-run).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR, LRScheduler

from tune_sched.optim._mistakes import ScheduleContext, warn_likely_mistakes
from tune_sched.config.catalog._types import to_torch
from tune_sched.config.catalog.checks import check_warmup_shorter, validate_lr_scheduler_config
from tune_sched.config.catalog.registry import LR_SCHEDULERS, LRSchedulerSpec
from tune_sched.optim.schedules import linear_decay_factor, linear_warmup_cosine_annealing_factor
from tune_sched.optim.stepping import Interval, RunLength
from tune_sched.optim.warmup import WarmupLR
from tune_sched.core.checks import join
from tune_sched.core.errors import UsageError

__all__ = ["OWN_SCHEDULERS", "build_lr_scheduler"]


def build_lr_scheduler(
    optimizer: Optimizer,
    scheduler_config: Mapping[str, Any],
    *,
    total_steps: int | None = None,
    max_epochs: int | None = None,
    steps_per_epoch: int | None = None,
    path: str = "lr_scheduler",
) -> dict[str, Any]:
    """Build the scheduler a config describes and return Lightning's lr_scheduler dict.

    Args:
        optimizer: the optimizer to schedule (from :func:`~tune_sched.optim.optimizers.build_optimizer`).
        scheduler_config: ``name`` (case-insensitive), the scheduler's kwargs, and ``interval`` (epoch|step;
            default epoch, step for OneCycleLR, CyclicLR and LinearDecayLR), ``frequency`` (default 1),
            ``monitor`` (ReduceLROnPlateau), ``strict`` (default true), ``warmup``. Never mutated.
        total_steps: optimizer steps in the run (Lightning's ``estimated_stepping_batches``).
        max_epochs: epochs in the run.
        steps_per_epoch: optimizer steps per epoch (derived from the other two when left out).
        path: the config's key path, for errors.

    Returns:
        ``{"scheduler", "interval", "frequency", "monitor", "strict", "name"}`` with ``name`` like
        ``"lr-CosineAnnealingLR"``; plus ``"reduce_on_plateau": True`` when a warmup wraps ReduceLROnPlateau (so
        Lightning passes it the metric).

    Raises:
        UsageError: an invalid config (see :func:`~tune_sched.config.catalog.checks.validate_lr_scheduler_config`), a
            needed length that is neither set nor known from the run, or torch refusing the settings.
    """
    cfg = validate_lr_scheduler_config(scheduler_config, path=path)
    spec = LR_SCHEDULERS[cfg["name"]]
    run = RunLength.of(max_epochs=max_epochs, total_steps=total_steps, steps_per_epoch=steps_per_epoch)
    interval: Interval = cfg.get("interval", spec.interval)
    frequency = cfg.get("frequency", 1)
    out_interval = interval
    if "warmup" in cfg:
        warmup_steps, inner_every, inner_length, out_interval = _plan_warmup(cfg["warmup"], interval, run, path)
        inner = _build(optimizer, cfg, inner_length, interval=interval, path=path)
        scheduler: Any = WarmupLR(optimizer, inner, warmup_steps=warmup_steps,
                                  start_factor=cfg["warmup"]["start_factor"], inner_every=inner_every)
    else:
        scheduler = _build(optimizer, cfg, run.scheduler_steps(interval, frequency), interval=interval, path=path)
    out = {
        "scheduler": scheduler,
        "interval": out_interval,
        "frequency": frequency,
        "monitor": cfg.get("monitor"),
        "strict": cfg.get("strict", True),
        "name": f"lr-{spec.name}",
    }
    if "warmup" in cfg and spec.needs_monitor:
        out["reduce_on_plateau"] = True
    return out


def _plan_warmup(warmup: Mapping[str, Any], interval: Interval, run: RunLength,
                 path: str) -> tuple[int, int, int | None, Interval]:
    """(warmup steps, inner_every, the wrapped schedule's length, the returned interval); see the module table."""
    unit = "epochs" if "epochs" in warmup else "steps"
    n = warmup[unit]
    if (unit == "epochs") == (interval == "epoch"):
        total = run.scheduler_steps(interval)
        _warn_warmup_length(n, total, path)
        return n, 1, None if total is None else total - n, interval
    if run.steps_per_epoch is None:
        why = ("the schedule after it is stepped once every steps_per_epoch steps" if unit == "steps"
               else f"its {n} epochs are converted to steps")
        raise UsageError(
            f"a warmup in {unit} in front of a per-{interval} schedule needs steps_per_epoch ({why})",
            path=join(path, "warmup"),
            fix="pass steps_per_epoch (or max_epochs and total_steps) to build_lr_scheduler, or give the warmup in "
                f"{'epochs' if unit == 'steps' else 'steps'}",
        )
    if unit == "steps":
        _warn_warmup_length(n, run.total_steps, path)
        inner = None if run.total_steps is None else (run.total_steps - n) // run.steps_per_epoch
        return n, run.steps_per_epoch, inner, "step"
    steps = n * run.steps_per_epoch
    _warn_warmup_length(steps, run.total_steps, path)
    return steps, 1, None if run.total_steps is None else run.total_steps - steps, "step"


def _warn_warmup_length(warmup_steps: int, total: int | None, path: str) -> None:
    if total is not None and warmup_steps >= total:
        warnings.warn(f"{path}.warmup: the warmup ({warmup_steps} scheduler steps) is not shorter than the run "
                      f"({total}); the schedule after it never runs", UserWarning, stacklevel=2)


def _build(optimizer: Optimizer, node: Mapping[str, Any], length: int | None, *, interval: Interval,
           path: str) -> LRScheduler:
    """One scheduler (recursively for SequentialLR/ChainedScheduler) with its length filled."""
    spec = LR_SCHEDULERS[node["name"]]
    kwargs = {k: to_torch(v, spec.kwargs[k].type) for k, v in node.items()
              if k in spec.kwargs and spec.kwargs[k].type != "schedulers"}
    _fill_length(spec, kwargs, length, interval, path)
    warn_likely_mistakes(spec.name, kwargs, ScheduleContext(length, interval, _group_lrs(optimizer)), path)
    if spec.composite:
        children = node["schedulers"]
        lengths = _child_lengths(spec, kwargs, length, len(children))
        kwargs["schedulers"] = [
            _build(optimizer, child, child_length, interval=interval, path=join(join(path, "schedulers"), i))
            for i, (child, child_length) in enumerate(zip(children, lengths))
        ]
    if spec.source == "tune_sched":
        defaults = {k: s.default for k, s in spec.kwargs.items() if not s.required}
        return OWN_SCHEDULERS[spec.name](optimizer, **{**defaults, **kwargs})
    try:
        return getattr(torch.optim.lr_scheduler, spec.name)(optimizer=optimizer, **kwargs)
    except (ValueError, TypeError) as err:
        raise UsageError(f"torch.optim.lr_scheduler.{spec.name} refused these settings: {err}", path=path,
                         fix=f"see the {spec.name} documentation for valid values") from None


def _group_lrs(optimizer: Optimizer) -> tuple[float, ...]:
    return tuple(float(g["lr"]) for g in optimizer.param_groups)


def _fill_length(spec: LRSchedulerSpec, kwargs: dict[str, Any], length: int | None, interval: Interval,
                 path: str) -> None:
    key = spec.length
    if key is None or kwargs.get(key) is not None:
        pass
    elif spec.name == "OneCycleLR" and kwargs.get("epochs") and kwargs.get("steps_per_epoch"):
        pass
    elif length is None:
        need = "max_epochs" if interval == "epoch" else "total_steps"
        raise UsageError(
            f"{spec.name} needs '{key}' (its length in scheduler steps, one per {interval}); it is not set and the "
            "run length is unknown", path=join(path, key),
            fix=f"set {key}: N, or pass {need}= to build_lr_scheduler (configure_optimizers takes it from the "
                "Trainer)",
        )
    elif length < 1:
        raise UsageError(f"is filled from the run length, but only {length} scheduler steps are left for it",
                         path=join(path, key), fix=f"lengthen the run, or set {key} explicitly")
    else:
        kwargs[key] = length
    if spec.name == "LinearWarmupCosineAnnealingLR":
        check_warmup_shorter(kwargs["warmup_epochs"], kwargs["max_epochs"], join(path, "max_epochs"))
    if spec.name == "OneCycleLR" and length is not None and length >= 1:
        planned = kwargs.get("total_steps") or (kwargs.get("epochs") or 0) * (kwargs.get("steps_per_epoch") or 0)
        if planned < length:
            raise UsageError(f"OneCycleLR is planned for {planned} steps but the run takes {length} scheduler steps; "
                             "torch raises once they are exceeded", path=join(path, "total_steps"),
                             fix="leave total_steps (and epochs, steps_per_epoch) out to fill it from the run")


def _child_lengths(spec: LRSchedulerSpec, kwargs: Mapping[str, Any], length: int | None,
                   count: int) -> list[int | None]:
    if spec.name == "SequentialLR":
        bounds = [0, *kwargs["milestones"]]
        spans: list[int | None] = [b - a for a, b in zip(bounds, bounds[1:])]
        return [*spans, None if length is None else length - bounds[-1]]
    return [length] * count  # ChainedScheduler: every child runs the whole time


def _linear_warmup_cosine(optimizer: Optimizer, *, warmup_epochs: int, max_epochs: int, warmup_start_lr: float,
                          eta_min: float) -> LambdaLR:
    # eta_min and warmup_start_lr are absolute LRs, so each group's multiplier depends on its own base LR
    return LambdaLR(optimizer, [
        functools.partial(linear_warmup_cosine_annealing_factor, base_lr=float(g.get("initial_lr", g["lr"])),
                          warmup_epochs=warmup_epochs, max_epochs=max_epochs, warmup_start_lr=warmup_start_lr,
                          eta_min=eta_min)
        for g in optimizer.param_groups
    ])


def _linear_decay(optimizer: Optimizer, *, T: int, final_fraction: float) -> LambdaLR:  # noqa: N803 (config key)
    return LambdaLR(optimizer, functools.partial(linear_decay_factor, total=T, final_fraction=final_fraction))


# Our own families (declared, with their kwargs and defaults, in tune_sched.config.catalog.registry).
OWN_SCHEDULERS: dict[str, Callable[..., LRScheduler]] = {
    "LinearWarmupCosineAnnealingLR": _linear_warmup_cosine,
    "LinearDecayLR": _linear_decay,
}
